//! Tells the extension's code which PHP it is built for: the `php81` to
//! `php86` cfgs (stacking: building for 8.4 sets `php81` to `php84`) and
//! `php_zts` that ext-php-rs's build script sets for its own code, read the
//! same way from the same PHP (`$PHP`, else `php` on `$PATH`) with the same
//! helper crate. A change of PHP's API is gated on these in `src/zend/`,
//! with a comment naming the PHP change.

use ext_php_rs_build::{ApiVersion, PHPInfo};

fn main() {
    ext_php_rs_build::emit_check_cfg();
    ext_php_rs_build::emit_rerun_if_env_changed();
    let php = ext_php_rs_build::find_php().expect("no PHP to build for ($PHP or php on $PATH)");
    let info = PHPInfo::get(&php).expect("php -i failed");
    let api = info.zend_version().expect("php -i shows no PHP API");
    let version = ApiVersion::try_from(api).expect("a PHP that ext-php-rs supports");
    ext_php_rs_build::emit_php_cfg_flags(version);
    if info.thread_safety().expect("php -i shows no Thread Safety") {
        println!("cargo:rustc-cfg=php_zts");
    }
}

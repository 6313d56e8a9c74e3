//! The Debian packages, on this machine, as an operator uses them: both
//! built by `./scripts/package` from one build, clean under lintian.
//! `phpX.Y-ephpm-kv`: installed with `apt-get install ./…deb`, loaded by
//! php-cli and php-fpm from Debian's conf.d, its tool and man page in
//! place, a php-fpm pool behind nginx using the store; then `apt-get purge`
//! leaves no module enabled and no file behind. A copy installed from
//! source by an older `./scripts/install-ext` is taken over without a
//! prompt. `phpX.Y-ephpm-apcu` (the `apcu` module): installed over
//! Debian's `phpX.Y-apcu`, which apt removes in the same step; then php-cli
//! and php-fpm load one `apcu`, ours, two php-cli processes share a store
//! by `apc.name`, so do a php-fpm pool's workers and php-cli run as the
//! pool's user, and its purge leaves nothing.
//!
//! It installs system-wide, so it is `#[ignore]`d: `./scripts/test` runs it
//! on its own after every other test (`--run-ignored only -E
//! 'binary(package)'`), as root. The machine is left as it was found: a
//! package installed before the test (ours, or Debian's `phpX.Y-apcu`) is
//! installed again at the end, and Debian's APCu is purged again if the
//! test installed it.
//!
//! The package is the one for the PHP that `php-config` describes
//! (`$PHP_CONFIG` picks another, as for `./scripts/package`): its name,
//! paths and `phpapi-` come from [`php()`]. The names the package script
//! computes for other PHPs are checked without building
//! (`./scripts/package --dry-run` with a stand-in php-config), and the dry
//! run is checked against the real build for this PHP.

use ephpm_shm_tests::php::php;
use ephpm_shm_tests::repo_root;
use ephpm_shm_tests::servers::{is_root, Fpm, Nginx, Pool, Site, User, FPM_WORKERS};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const SAPIS: &[&str] = &["cli", "fpm", "apache2"];
/// The pages the README links to, installed beside it under
/// `/usr/share/doc/<package>/` at the same relative paths.
const DOC_PAGES: &[&str] = &[
    "docs/api.md",
    "docs/cli.md",
    "docs/design.md",
    "docs/operations.md",
    "docs/performance.md",
    "docs/php-versions.md",
    "docs/sessions.md",
    "docs/status-page.png",
];

/// This PHP's package: `php8.2-ephpm-kv` for Debian 12's PHP 8.2.
fn package() -> String {
    php().package()
}

/// This PHP's apcu package: `php8.2-ephpm-apcu` for Debian 12's PHP 8.2.
fn apcu_package() -> String {
    format!("php{}-ephpm-apcu", php().version)
}

/// Debian's APCu for this PHP (`php8.2-apcu`), which ours replaces.
fn debian_apcu() -> String {
    format!("php{}-apcu", php().version)
}

/// The package's ini (a conffile): `/etc/php/<X.Y>/mods-available/ephpm_kv.ini`.
fn ini() -> String {
    php()
        .etc_dir()
        .join("mods-available/ephpm_kv.ini")
        .to_string_lossy()
        .into_owned()
}

/// Where the file lists are taken: everything the package or its scripts
/// could write (its files, PHP's conf.d links, php-maintscript-helper's state).
const WATCHED: &[&str] = &["/etc", "/usr", "/var/lib/php", "/opt"];

/// Runs `cmd` with no input (so a dpkg prompt fails instead of waiting) and
/// returns its output; panics with both streams unless it succeeded.
fn run(cmd: &mut Command, what: &str) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn apt(args: &[&str]) -> String {
    run(
        Command::new("apt-get").args(["-y", "-q"]).args(args),
        &format!("apt-get {}", args.join(" ")),
    )
}

fn installed() -> bool {
    is_installed(&package())
}

/// Whether Debian's dpkg says `name` is installed (not removed, not absent).
fn is_installed(name: &str) -> bool {
    let out = output(Command::new("dpkg-query").args(["-W", "-f=${Status}", name]));
    out.status.success() && String::from_utf8_lossy(&out.stdout).ends_with(" installed")
}

/// Every path under [`WATCHED`].
fn file_list() -> BTreeSet<String> {
    let out = run(
        Command::new("find").args(WATCHED).args([
            "-xdev",
            "-path",
            "/etc/ld.so.cache",
            "-prune",
            "-o",
            "-print",
        ]),
        "find",
    );
    out.lines().map(str::to_owned).collect()
}

/// What changed between two file lists, for a failure's message.
fn difference(before: &BTreeSet<String>, after: &BTreeSet<String>) -> String {
    let gone: Vec<&String> = before.difference(after).collect();
    let left: Vec<&String> = after.difference(before).collect();
    format!("left behind: {left:#?}\ngone: {gone:#?}")
}

/// The module's state for each SAPI, as Debian's `phpquery` reports it.
fn module_state(sapi: &str) -> String {
    module_state_of(sapi, "ephpm_kv")
}

/// The state of the module whose ini is `mods-available/<module>.ini`.
fn module_state_of(sapi: &str, module: &str) -> String {
    let out =
        output(Command::new("phpquery").args(["-v", &php().version, "-s", sapi, "-m", module]));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .trim()
    .to_owned()
}

fn php_modules(binary: impl AsRef<std::ffi::OsStr>) -> BTreeSet<String> {
    let binary = binary.as_ref();
    let shown = binary.to_string_lossy();
    run(Command::new(binary).arg("-m"), &format!("{shown} -m"))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Builds both packages; their .debs: (ephpm_kv's, apcu's). The script
/// prints apcu's first and ephpm_kv's last (callers that take the last
/// line get ephpm_kv's), both in one directory.
fn build_packages() -> (PathBuf, PathBuf) {
    let out = run(
        Command::new(repo_root().join("scripts/package")).current_dir(repo_root()),
        "./scripts/package",
    );
    let debs: Vec<PathBuf> = out.lines().map(|l| repo_root().join(l)).collect();
    assert_eq!(debs.len(), 2, "./scripts/package prints two .debs:\n{out}");
    for (deb, pkg) in debs.iter().zip([apcu_package(), package()]) {
        assert!(deb.is_file(), "{} is missing", deb.display());
        // Side by side (in target/debian/ unless $CARGO_TARGET_DIR moves it).
        assert_eq!(deb.parent(), debs[1].parent(), "{out}");
        let name = deb.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(&format!("{pkg}_")) && name.ends_with(".deb"),
            "package file {name}, expected {pkg}"
        );
    }
    (debs[1].clone(), debs[0].clone())
}

/// What `./scripts/package --dry-run` prints for one package: the .deb's
/// path (after `=== `), where each file goes, and the text of each
/// generated file by its title (`DEBIAN/control`, the ini's path,
/// `DEBIAN/postinst`, ...).
struct DryRun {
    deb: String,
    paths: Vec<String>,
    files: Vec<(String, String)>,
}

impl DryRun {
    fn file(&self, title: &str) -> &str {
        self.files
            .iter()
            .find(|(t, _)| t == title)
            .map(|(_, text)| text.as_str())
            .unwrap_or_else(|| panic!("the dry run shows no {title}: {:?}", self.files))
    }
}

/// `./scripts/package --dry-run`, with `$PHP_CONFIG` set to `php_config`
/// when given (else as the test runs, i.e. the PHP under test): the
/// package whose name is `pkg`, which must be one of the two it shows.
fn dry_run(php_config: Option<&Path>, pkg: &str) -> DryRun {
    let runs = dry_runs(php_config);
    let names: Vec<String> = runs.iter().map(|r| r.deb.clone()).collect();
    assert_eq!(runs.len(), 2, "the dry run shows two packages: {names:?}");
    runs.into_iter()
        .find(|r| {
            Path::new(&r.deb)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{pkg}_")))
        })
        .unwrap_or_else(|| panic!("the dry run shows no {pkg}: {names:?}"))
}

/// Every package `./scripts/package --dry-run` shows, in its order.
fn dry_runs(php_config: Option<&Path>) -> Vec<DryRun> {
    let mut cmd = Command::new(repo_root().join("scripts/package"));
    cmd.arg("--dry-run").current_dir(repo_root());
    if let Some(php_config) = php_config {
        cmd.env("PHP_CONFIG", php_config).env_remove("PHP");
    }
    let out = run(&mut cmd, "./scripts/package --dry-run");
    let mut runs: Vec<DryRun> = Vec::new();
    for line in out.lines() {
        if let Some(deb) = line.strip_prefix("=== ") {
            runs.push(DryRun {
                deb: deb.to_owned(),
                paths: Vec::new(),
                files: Vec::new(),
            });
            continue;
        }
        let run = runs
            .last_mut()
            .unwrap_or_else(|| panic!("the dry run begins with no `=== <.deb>`:\n{out}"));
        if let Some(title) = line.strip_prefix("--- ") {
            run.files.push((title.to_owned(), String::new()));
        } else if let Some((_, text)) = run.files.last_mut() {
            text.push_str(line);
            text.push('\n');
        } else {
            run.paths.push(line.to_owned());
        }
    }
    runs
}

/// A stand-in `php-config` in `dir` that reports PHP `version` with module
/// API `phpapi`, laid out as Debian's phpX.Y-dev reports it. Its
/// `--php-binary` is the PHP under test (the script runs it only to read
/// cargo's metadata), so no other PHP needs to be installed.
fn fake_php_config(dir: &Path, version: &str, phpapi: &str) -> PathBuf {
    let path = dir.join(format!("php-config-{version}"));
    fs::write(
        &path,
        format!(
            "#!/bin/sh\n\
             case \"$1\" in\n\
             --version) echo {version} ;;\n\
             --phpapi) echo {phpapi} ;;\n\
             --extension-dir) echo /usr/lib/php/{phpapi} ;;\n\
             --php-binary) echo {binary} ;;\n\
             *) echo \"unexpected option $1\" >&2; exit 1 ;;\n\
             esac\n",
            binary = php().binary.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// `./scripts/package` pointed at another PHP (`PHP_CONFIG=...`) names
/// the packages, their dependency on that PHP's ABI and every path after that
/// PHP, with nothing left of the host's: checked on the dry run with a
/// stand-in php-config for PHP 8.3 (Ubuntu 24.04), 8.4 (Debian 13), 8.5
/// and 8.6 (Debian experimental). The dry run is held to the real build by
/// [`dry_run_matches_the_build`] (in the package test below).
#[test]
fn the_package_follows_the_php_it_is_built_for() {
    let tmp = tempfile::tempdir().unwrap();
    let host = php();
    for (full, version, api) in [
        ("8.3.6", "8.3", "20230831"),
        ("8.4.16", "8.4", "20240924"),
        ("8.5.1", "8.5", "20250925"),
        // A release candidate's php-config says 8.6.0RC3 (Debian 8.6.0~rc3-1).
        ("8.6.0RC3", "8.6", "20260924"),
    ] {
        let php_config = fake_php_config(tmp.path(), full, api);
        apcu_package_follows(&php_config, full, version, api);
        let pkg = format!("php{version}-ephpm-kv");
        let run = dry_run(Some(&php_config), &pkg);
        let name = Path::new(&run.deb).file_name().unwrap().to_string_lossy();
        assert!(
            run.deb.starts_with("target/debian/")
                && name.starts_with(&format!("{pkg}_"))
                && name.ends_with(".deb"),
            "PHP {full}: {}",
            run.deb
        );
        let ini = format!("/etc/php/{version}/mods-available/ephpm_kv.ini");
        for path in [
            format!("/usr/lib/php/{api}/ephpm_kv.so"),
            ini.clone(),
            "/usr/bin/ephpm-shm".to_owned(),
            format!("/usr/share/{pkg}/ephpm-status.php"),
            format!("/usr/share/doc/{pkg}/README.md"),
            format!("/usr/share/doc/{pkg}/copyright"),
        ]
        .into_iter()
        .chain(
            DOC_PAGES
                .iter()
                .map(|page| format!("/usr/share/doc/{pkg}/{page}")),
        ) {
            assert!(
                run.paths.contains(&path),
                "PHP {full}: no {path} in {:?}",
                run.paths
            );
        }
        let control = run.file("DEBIAN/control");
        assert!(
            control.contains(&format!("\nPackage: {pkg}\n"))
                || control.starts_with(&format!("Package: {pkg}\n")),
            "PHP {full}:\n{control}"
        );
        assert!(
            control.contains(&format!("\nDepends: php{version}-common, phpapi-{api}, ")),
            "PHP {full}:\n{control}"
        );
        assert!(
            run.file(&ini)
                .contains(&format!("/usr/share/doc/{pkg}/README.md")),
            "PHP {full}: the ini's pointer to the README"
        );
        assert!(
            run.file("DEBIAN/postinst")
                .contains(&format!("php_invoke enmod {version} ALL ephpm_kv")),
            "PHP {full}: postinst"
        );
        for script in ["preinst", "prerm", "postrm"] {
            let text = run.file(&format!("DEBIAN/{script}"));
            assert!(text.contains(version), "PHP {full}: {script}:\n{text}");
        }
        // Nothing of the host's PHP is left in what the script computed.
        let everything = format!("{}\n{:?}\n{:?}", run.deb, run.paths, run.files);
        for host_name in [
            format!("php{}", host.version),
            format!("/{}/", host.version),
            host.phpapi.clone(),
        ] {
            assert!(
                !everything.contains(&host_name),
                "PHP {full}: the host's {host_name} in:\n{everything}"
            );
        }
    }
}

/// The apcu package of the dry run for PHP `full` (`version`, module API
/// `api`): its name, paths, dependency on that PHP's ABI, its replacing
/// that PHP's `phpX.Y-apcu`, the ini's pointer to its doc, and the module
/// its maintainer scripts enable; nothing of the host's PHP.
fn apcu_package_follows(php_config: &Path, full: &str, version: &str, api: &str) {
    let pkg = format!("php{version}-ephpm-apcu");
    let run = dry_run(Some(php_config), &pkg);
    assert!(
        run.deb.starts_with("target/debian/"),
        "PHP {full}: {}",
        run.deb
    );
    let ini = format!("/etc/php/{version}/mods-available/ephpm_apcu.ini");
    let want = [
        format!("/usr/lib/php/{api}/ephpm_apcu.so"),
        ini.clone(),
        format!("/usr/share/doc/{pkg}/apcu.md"),
        format!("/usr/share/doc/{pkg}/copyright"),
        format!("/usr/share/doc/{pkg}/changelog.gz"),
    ];
    assert_eq!(run.paths, want, "PHP {full}");
    let control = run.file("DEBIAN/control");
    let apcu_version = ephpm_apcu_version();
    for line in [
        format!("Package: {pkg}\n"),
        format!("\nDepends: php{version}-common, phpapi-{api}, "),
        format!("\nConflicts: php{version}-apcu\n"),
        format!("\nReplaces: php{version}-apcu\n"),
        // Unversioned: Debian 13's php-common Breaks php-apcu (<< 5.1.24-1~).
        format!("\nProvides: php-apcu, php{version}-apcu\n"),
        format!(" APCu {apcu_version}'s apcu_* functions"),
    ] {
        assert!(
            control.contains(&line),
            "PHP {full}: no {line:?} in\n{control}"
        );
    }
    let ini_text = run.file(&ini);
    assert!(
        ini_text.contains("\nextension=ephpm_apcu.so\n")
            && ini_text.contains(&format!("/usr/share/doc/{pkg}/apcu.md")),
        "PHP {full}: {ini}:\n{ini_text}"
    );
    assert!(
        run.file("DEBIAN/postinst")
            .contains(&format!("php_invoke enmod {version} ALL ephpm_apcu")),
        "PHP {full}: postinst"
    );
    assert!(
        run.file("DEBIAN/prerm")
            .contains(&format!("php_invoke dismod {version} ALL ephpm_apcu")),
        "PHP {full}: prerm"
    );
    assert!(
        run.file("DEBIAN/postrm").contains(&format!(
            "phpdismod -p -f -v {version} -s \"$sapi\" ephpm_apcu"
        )),
        "PHP {full}: postrm"
    );
    let everything = format!("{}\n{:?}\n{:?}", run.deb, run.paths, run.files);
    let host = php();
    for host_name in [
        format!("php{}", host.version),
        format!("/{}/", host.version),
        host.phpapi.clone(),
    ] {
        assert!(
            !everything.contains(&host_name),
            "PHP {full}: the host's {host_name} in:\n{everything}"
        );
    }
}

/// The APCu version the module reports (`APCU_VERSION` in
/// `apcu/src/lib.rs`), which the package's description names.
fn ephpm_apcu_version() -> String {
    let lib = fs::read_to_string(repo_root().join("apcu/src/lib.rs")).unwrap();
    lib.lines()
        .find_map(|l| l.strip_prefix("pub const APCU_VERSION: &str = \""))
        .and_then(|rest| rest.strip_suffix("\";"))
        .expect("APCU_VERSION in apcu/src/lib.rs")
        .to_owned()
}

/// The dry run for the PHP under test names the files the real build of
/// package `pkg` holds and the control fields it has.
fn dry_run_matches_the_build(deb: &Path, pkg: &str) {
    let run = dry_run(None, pkg);
    assert!(deb.ends_with(&run.deb), "{} vs {}", deb.display(), run.deb);
    let listing = self::run(Command::new("dpkg-deb").arg("-c").arg(deb), "dpkg-deb -c");
    for path in &run.paths {
        assert!(
            listing.lines().any(|l| l.ends_with(&format!(".{path}"))),
            "the dry run lists {path}, the package has:\n{listing}"
        );
    }
    let fields = self::run(
        Command::new("dpkg-deb").arg("-f").arg(deb).args([
            "Package",
            "Depends",
            "Conflicts",
            "Replaces",
            "Provides",
            "Suggests",
        ]),
        "dpkg-deb -f",
    );
    let control = run.file("DEBIAN/control");
    for field in fields.lines() {
        // Depends: the dry run stops before the shared libraries.
        let known = field.split(", lib").next().unwrap();
        assert!(
            control.contains(known),
            "{field} vs the dry run:\n{control}"
        );
    }
}

/// lintian, pedantic: no error and no warning (the informational tags it
/// prints are listed in the README's install section).
fn lintian(deb: &Path) {
    let out = output(
        Command::new("lintian")
            .args(["--allow-root", "--pedantic", "--fail-on", "error,warning"])
            .arg(deb),
    );
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "lintian found errors or warnings:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("lintian: no errors, no warnings; its other tags:\n{report}");
}

/// The package's declared dependencies make apt refuse it on another PHP
/// ABI: the same package declaring a `phpapi-` nobody provides cannot be
/// installed (checked with `apt-get --simulate`, which changes nothing).
fn refused_on_another_php(deb: &Path, tmp: &Path) {
    let control = run(
        Command::new("dpkg-deb")
            .args(["-f"])
            .arg(deb)
            .arg("Depends"),
        "dpkg-deb -f",
    );
    let api = &php().phpapi;
    assert!(
        control.contains(&format!("phpapi-{api}")),
        "Depends: {control}"
    );
    // One tree per package (the test checks both in one directory).
    let stem = deb.file_stem().unwrap().to_string_lossy();
    let tree = tmp.join(format!("other-php-{stem}"));
    run(
        Command::new("dpkg-deb").arg("-R").arg(deb).arg(&tree),
        "dpkg-deb -R",
    );
    let control_path = tree.join("DEBIAN/control");
    let text = fs::read_to_string(&control_path).unwrap();
    fs::write(
        &control_path,
        text.replace(&format!("phpapi-{api}"), "phpapi-20990101"),
    )
    .unwrap();
    let other = tmp.join(format!("other-php-{stem}.deb"));
    run(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "--build"])
            .arg(&tree)
            .arg(&other),
        "dpkg-deb --build",
    );
    let out = output(
        Command::new("apt-get")
            .args(["--simulate", "install"])
            .arg(&other),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success() && text.contains("phpapi-20990101"),
        "apt would install a package built for another PHP:\n{text}"
    );
}

/// The installed extension and tool, checked from outside: php-cli and
/// php-fpm load it from Debian's conf.d, the tool and its man page are
/// where `PATH` and `man` look, and both share a store.
fn check_installed(tmp: &Path) {
    assert!(php_modules(&php().binary).contains("ephpm_kv"), "php -m");
    assert!(
        php_modules(php().fpm()).contains("ephpm_kv"),
        "{} -m",
        php().fpm()
    );
    for sapi in SAPIS {
        let state = module_state(sapi);
        assert!(state.contains("Enabled"), "phpquery {sapi}: {state}");
    }
    let version = run(
        Command::new("ephpm-shm").arg("--version"),
        "ephpm-shm --version",
    );
    let php_version = run(
        Command::new(&php().binary).args(["-r", "echo phpversion('ephpm_kv');"]),
        "phpversion",
    );
    assert_eq!(version.trim(), format!("ephpm-shm {php_version}"));
    let man = run(Command::new("man").args(["-w", "ephpm-shm"]), "man -w");
    assert_eq!(man.trim(), "/usr/share/man/man1/ephpm-shm.1.gz");
    let man = run(
        Command::new("man").args(["-w", "ephpm-shm-serve"]),
        "man -w",
    );
    assert_eq!(man.trim(), "/usr/share/man/man1/ephpm-shm-serve.1.gz");
    for completion in [
        "/usr/share/bash-completion/completions/ephpm-shm".to_owned(),
        "/usr/share/zsh/vendor-completions/_ephpm-shm".to_owned(),
        "/usr/share/fish/vendor_completions.d/ephpm-shm.fish".to_owned(),
        format!("/usr/share/doc/{}/README.md", package()),
        format!("/usr/share/doc/{}/copyright", package()),
    ] {
        assert!(Path::new(&completion).is_file(), "{completion} is missing");
    }
    // Every page of docs/ (those the README links to among them) is installed
    // beside the README, byte for byte.
    let mut pages: BTreeSet<String> = fs::read_dir(repo_root().join("docs"))
        .unwrap()
        .map(|e| format!("docs/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    pages.extend(DOC_PAGES.iter().map(|p| (*p).to_owned()));
    for page in &pages {
        let installed = format!("/usr/share/doc/{}/{page}", package());
        assert_eq!(
            fs::read(&installed).ok(),
            fs::read(repo_root().join(page)).ok(),
            "{installed} is missing or differs from {page}"
        );
    }
    let text = fs::read_to_string(ini()).unwrap();
    assert!(
        text.contains("\nextension=ephpm_kv.so\n"),
        "{}:\n{text}",
        ini()
    );
    let doc = format!("/usr/share/doc/{}/README.md", package());
    assert!(text.contains(&doc), "{} does not point at {doc}", ini());

    // php-cli (the system's php.ini and conf.d) writes, the tool reads.
    let dir = tmp.join("cli-store");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let dir_arg = format!("ephpm_kv.dir={}", dir.display());
    let out = run(
        Command::new(&php().binary).args([
            "-d",
            &dir_arg,
            "-r",
            "var_export(ephpm_kv_set('from', 'php-cli')); echo ' ', ephpm_kv_incr('n');",
        ]),
        "php -r",
    );
    assert_eq!(out, "true 1");
    let got = run(
        Command::new("ephpm-shm")
            .arg("--dir")
            .arg(&dir)
            .args(["get", "default", "from"]),
        "ephpm-shm get",
    );
    assert_eq!(got, "php-cli");
}

/// A php-fpm pool (Debian's php-fpmX.Y, reading Debian's conf.d: nothing
/// loads the built extension) behind nginx: its workers share a counter.
fn fpm_pool_uses_the_store() {
    let site = Site::new();
    site.page(
        "count.php",
        "<?php usleep(200000); echo getmypid(), ' ', ephpm_kv_incr('hits'), ' ', \
         ini_get('extension_dir'), \"\\n\";",
    );
    let user = if is_root() {
        User::www_data()
    } else {
        User::current()
    };
    let fpm = Fpm::start_installed(&site, "pkg", vec![Pool::new("main").user(user.clone())]);
    let nginx = Nginx::start(&site, &fpm);
    let web = nginx.pool("main");
    let bodies = web.on_distinct_workers(FPM_WORKERS, "count.php");
    assert_counted_once_per_worker(&bodies, "workers' increments");
    // The tool, as the pool's user (the store is that user's).
    let stats = run(
        Command::new("ephpm-shm")
            .uid(user.uid)
            .gid(user.gid)
            .arg("--dir")
            .arg(site.shm_dir())
            .args(["get", "pkg", "hits"]),
        "ephpm-shm get",
    );
    assert_eq!(stats, FPM_WORKERS.to_string());
    println!("php-fpm with the packaged extension: {bodies:?}");

    // The packaged status page, dropped into the site as an operator
    // would, answers a local request (no password set) with the store's
    // figures and its key names.
    let status_page = status_page();
    let status = fs::read_to_string(&status_page).unwrap_or_else(|e| panic!("{status_page}: {e}"));
    site.page("ephpm-status.php", &status);
    let page = web.try_get("ephpm-status.php").expect("status page");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("ephpm_kv status"), "{}", page.body);
    assert!(
        page.body.contains("ephpm_kv.pkg"),
        "segment path: {}",
        page.body
    );
    assert!(
        page.body.contains(">hits<"),
        "the key `hits`: {}",
        page.body
    );
    assert!(page.body.contains("<svg"), "{}", page.body);
}

/// Where the package puts the status page.
fn status_page() -> String {
    format!("/usr/share/{}/ephpm-status.php", package())
}

/// What an older `./scripts/install-ext` left: its ini (unowned), its .so
/// and phpenmod's links.
fn install_from_source_the_old_way() {
    let so = php_extension_dir().join("ephpm_kv.so");
    fs::copy(ephpm_shm_tests::ext_so(), &so).expect("copying the .so");
    fs::write(
        ini(),
        "; priority=20\n\
         ; ephpm_kv: a key-value store shared by every PHP process of one user.\n\
         ; Settings (defaults shown); per php-fpm pool: php_admin_value[ephpm_kv.name] = ...\n\
         extension=ephpm_kv.so\n\
         ;ephpm_kv.size = 64M\n",
    )
    .expect("writing the from-source ini");
    run(
        Command::new("phpenmod").args(["-v", &php().version, "ephpm_kv"]),
        "phpenmod",
    );
    assert!(php_modules(&php().binary).contains("ephpm_kv"));
}

fn php_extension_dir() -> PathBuf {
    php().extension_dir.clone()
}

#[test]
#[ignore = "installs system-wide: ./scripts/test runs it alone, after the other tests"]
fn the_package_installs_works_and_purges_without_a_trace() {
    assert!(
        is_root(),
        "installing a package needs root: run ./scripts/test as root"
    );
    let tmp = tempfile::tempdir().unwrap();
    let (deb, apcu_deb) = build_packages();
    dry_run_matches_the_build(&deb, &package());
    dry_run_matches_the_build(&apcu_deb, &apcu_package());
    lintian(&deb);
    lintian(&apcu_deb);
    refused_on_another_php(&deb, tmp.path());
    refused_on_another_php(&apcu_deb, tmp.path());

    let was_installed = installed();
    if was_installed {
        apt(&["purge", &package()]);
    }
    let before = file_list();
    assert!(
        !php_modules(&php().binary).contains("ephpm_kv"),
        "loaded before install"
    );

    let deb_arg = deb.to_string_lossy().into_owned();
    apt(&["install", &deb_arg]);
    assert!(installed());
    check_installed(tmp.path());
    fpm_pool_uses_the_store();
    let owned = run(Command::new("dpkg").args(["-L", &package()]), "dpkg -L");
    println!("installed:\n{owned}");

    apt(&["purge", &package()]);
    assert!(!installed());
    assert!(
        !php_modules(&php().binary).contains("ephpm_kv"),
        "php -m after purge"
    );
    assert!(
        !php_modules(php().fpm()).contains("ephpm_kv"),
        "{} -m after purge",
        php().fpm()
    );
    let after = file_list();
    assert!(before == after, "{}", difference(&before, &after));

    // A from-source install is taken over: no conffile prompt (stdin is
    // closed, so one would fail the install), its ini kept aside until the
    // purge, which then leaves what there was before it.
    install_from_source_the_old_way();
    let out = apt(&["install", &deb_arg]);
    assert!(
        Path::new(&format!("{}.dpkg-old", ini())).exists(),
        "preinst did not keep the from-source ini aside:\n{out}"
    );
    let owner = run(Command::new("dpkg").args(["-S", &ini()]), "dpkg -S");
    assert!(
        owner.starts_with(&package()),
        "{} belongs to {owner}",
        ini()
    );
    check_installed(tmp.path());
    apt(&["purge", &package()]);
    let after = file_list();
    assert!(before == after, "{}", difference(&before, &after));
    for sapi in SAPIS {
        let state = module_state(sapi);
        assert!(!state.contains("Enabled"), "phpquery {sapi}: {state}");
    }

    if was_installed {
        apt(&["install", &deb_arg]);
    }

    apcu_package_replaces_debian_apcu(&apcu_deb, tmp.path());
}

/// dpkg's status of `name` (`install ok installed`, `deinstall ok
/// config-files` once removed but not purged), or empty if it has none.
fn dpkg_status(name: &str) -> String {
    let out = output(Command::new("dpkg-query").args(["-W", "-f=${Status}", name]));
    if out.status.success() {
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    } else {
        String::new()
    }
}

/// Purges `name` if dpkg knows it at all (installed, or removed with its
/// conffiles left).
fn purge_if_known(name: &str) {
    let status = dpkg_status(name);
    if !status.is_empty() && !status.ends_with("not-installed") {
        apt(&["purge", name]);
    }
}

/// `php -d apc.enable_cli=1 [-d apc.name=<name>] -d apc.dir=<dir> -r
/// <code> <arg>`, with the system's php.ini and conf.d (so with the module
/// only if the package loads it): its output.
fn php_apcu(dir: &Path, name: Option<&str>, code: &str, arg: &str) -> String {
    let mut cmd = Command::new(&php().binary);
    cmd.args(["-d", "apc.enable_cli=1", "-d"])
        .arg(format!("apc.dir={}", dir.display()));
    if let Some(name) = name {
        cmd.arg("-d").arg(format!("apc.name={name}"));
    }
    cmd.args(["-r", code, arg]);
    run(&mut cmd, &format!("php -r {code}"))
}

/// A php-fpm pool (Debian's php-fpmX.Y reading Debian's conf.d, so the
/// packaged module) behind nginx, its store named by
/// `php_admin_value[apc.name]`: its workers share one counter, and php-cli
/// run as the pool's user with that name reads it and writes a value the
/// workers then fetch; both outlive a restart of php-fpm.
fn fpm_pool_and_cli_share_the_apcu_store() {
    let site = Site::new();
    site.page(
        "apcu.php",
        "<?php usleep(200000); echo getmypid(), ' ', apcu_inc('hits'), ' ', \
         var_export(apcu_fetch('from-cli'), true), \"\\n\";",
    );
    let user = if is_root() {
        User::www_data()
    } else {
        User::current()
    };
    let dir = format!("php_admin_value[apc.dir] = {}", site.shm_dir().display());
    let mut fpm = Fpm::start_installed(
        &site,
        "pkg",
        vec![Pool::new("main")
            .user(user.clone())
            .line("php_admin_value[apc.name] = pkgpool")
            .line(&dir)],
    );
    let nginx = Nginx::start(&site, &fpm);
    let web = nginx.pool("main");
    let bodies = web.on_distinct_workers(FPM_WORKERS, "apcu.php");
    assert_counted_once_per_worker(&bodies, "workers' apcu_inc");
    assert!(
        bodies.iter().all(|b| b.trim_end().ends_with(" false")),
        "{bodies:?}"
    );

    let cli = |code: &str| {
        run(
            Command::new(&php().binary)
                .uid(user.uid)
                .gid(user.gid)
                .env("HOME", "/")
                .args(["-d", "apc.enable_cli=1", "-d", "apc.name=pkgpool", "-d"])
                .arg(format!("apc.dir={}", site.shm_dir().display()))
                .args(["-r", code]),
            "php-cli as the pool's user",
        )
    };
    assert_eq!(cli("echo apcu_fetch('hits');"), FPM_WORKERS.to_string());
    assert_eq!(cli("var_export(apcu_store('from-cli', 'warm'));"), "true");
    let body = web.page("apcu.php");
    assert!(
        body.trim_end()
            .ends_with(&format!(" {} 'warm'", FPM_WORKERS + 1)),
        "a worker after the CLI's store: {body}"
    );
    // A new master and new workers (APCu's cache would be gone): the store stays.
    let master = fpm.master_pid();
    fpm.restart();
    assert_ne!(fpm.master_pid(), master, "php-fpm was not restarted");
    let after = web.page("apcu.php");
    assert!(
        after
            .trim_end()
            .ends_with(&format!(" {} 'warm'", FPM_WORKERS + 2)),
        "a worker after php-fpm's restart: {after}"
    );
    println!(
        "php-fpm with the packaged apcu module: {bodies:?}, then {}, after a restart {}",
        body.trim_end(),
        after.trim_end()
    );
}

/// The apcu package over Debian's APCu, as an operator switches: with
/// `phpX.Y-apcu` installed from the archive and loaded, `apt-get install
/// ./phpX.Y-ephpm-apcu_….deb` removes it in the same step; then every SAPI
/// has ours enabled and APCu's not, php-cli and php-fpm load one `apcu`
/// and it is ours, packages that depend on `php-apcu` are satisfied by it,
/// two php-cli processes share a store by `apc.name` (and one without a
/// name has its own). Its purge, with APCu's left-over ini purged too,
/// leaves the file lists as they were before either was installed; so does
/// the way back (installing `phpX.Y-apcu` over it).
fn apcu_package_replaces_debian_apcu(deb: &Path, tmp: &Path) {
    let ours = apcu_package();
    let debian = debian_apcu();
    let ours_was = is_installed(&ours);
    let debian_was = is_installed(&debian);
    let meta_was = is_installed("php-apcu");
    purge_if_known(&ours);
    purge_if_known("php-apcu");
    purge_if_known(&debian);
    let before = file_list();
    assert!(
        !php_modules(&php().binary).contains("apcu"),
        "apcu loaded with neither package installed"
    );

    // Debian's APCu, from the archive: loaded, and not ours (no apc.name).
    apt(&["install", &debian]);
    let theirs = run(
        Command::new(&php().binary).args([
            "-r",
            "var_export([extension_loaded('apcu'), ini_get('apc.name')]);",
        ]),
        "php -r (Debian's APCu)",
    );
    assert_eq!(
        theirs.split_whitespace().collect::<String>(),
        "array(0=>true,1=>false,)",
        "{debian} loaded"
    );

    // The switch: one apt step, APCu removed.
    let deb_arg = deb.to_string_lossy().into_owned();
    let out = apt(&["install", &deb_arg]);
    assert!(is_installed(&ours), "{ours} not installed:\n{out}");
    assert!(
        !is_installed(&debian),
        "{debian} is still installed beside {ours}:\n{out}"
    );
    for sapi in SAPIS {
        let state = module_state_of(sapi, "ephpm_apcu");
        assert!(
            state.contains("Enabled"),
            "phpquery {sapi} ephpm_apcu: {state}"
        );
        let state = module_state_of(sapi, "apcu");
        assert!(!state.contains("Enabled"), "phpquery {sapi} apcu: {state}");
        // Nothing in the SAPI's conf.d loads APCu's ini any more.
        let conf_d = php().etc_dir().join(sapi).join("conf.d");
        for entry in fs::read_dir(&conf_d).unwrap() {
            let path = entry.unwrap().path();
            let target = fs::read_link(&path).unwrap_or_else(|_| path.clone());
            assert!(
                !target.ends_with("apcu.ini"),
                "{} -> {} after the switch",
                path.display(),
                target.display()
            );
        }
    }
    assert!(php_modules(&php().binary).contains("apcu"), "php -m");
    assert!(
        php_modules(php().fpm()).contains("apcu"),
        "{} -m",
        php().fpm()
    );
    // php-fpm's apcu is ours: its phpinfo names the implementation.
    let info = run(Command::new(php().fpm()).arg("-i"), "php-fpm -i");
    assert!(
        info.lines()
            .any(|l| l.starts_with("Implementation => ephpm-apcu ")),
        "{} -i names no ephpm-apcu",
        php().fpm()
    );
    // As APCu, off in php-cli unless apc.enable_cli.
    let off = run(
        Command::new(&php().binary).args(["-r", "var_dump(apcu_enabled());"]),
        "php -r apcu_enabled()",
    );
    assert_eq!(off, "bool(false)\n", "php-cli without apc.enable_cli");
    let dir = tmp.join("apcu-store");
    fs::create_dir_all(&dir).unwrap();
    let on = php_apcu(
        &dir,
        None,
        "var_dump(extension_loaded('apcu'), apcu_enabled(), ini_get('apc.name') !== false);",
        "",
    );
    assert_eq!(
        on, "bool(true)\nbool(true)\nbool(true)\n",
        "php -r, enable_cli"
    );
    // Packages that depend on php-apcu are satisfied by ours: apt would
    // install Debian's metapackage php-apcu without bringing APCu back.
    let plan = run(
        Command::new("apt-get").args(["--simulate", "install", "php-apcu"]),
        "apt-get --simulate install php-apcu",
    );
    assert!(
        plan.contains("Inst php-apcu ")
            && !plan.contains(&format!("Inst {debian} "))
            && !plan.contains(&format!("Remv {ours} ")),
        "php-apcu with {ours} installed:\n{plan}"
    );

    // One php-cli process stores under a name, another reads it; one
    // without apc.name has a store of its own, as APCu's CLI.
    let token = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let stored = php_apcu(
        &dir,
        Some("pkgtest"),
        "var_export(apcu_store('from-cli', $argv[1]));",
        &token,
    );
    assert_eq!(stored, "true");
    let fetched = php_apcu(&dir, Some("pkgtest"), "echo apcu_fetch('from-cli');", "");
    assert_eq!(fetched, token, "another php-cli, same apc.name");
    let private = php_apcu(&dir, None, "var_export(apcu_fetch('from-cli'));", "");
    assert_eq!(private, "false", "a php-cli without apc.name");
    fpm_pool_and_cli_share_the_apcu_store();
    let owned = run(Command::new("dpkg").args(["-L", &ours]), "dpkg -L");
    println!("installed:\n{owned}");

    apt(&["purge", &ours]);
    assert!(!is_installed(&ours));
    assert!(
        !php_modules(&php().binary).contains("apcu"),
        "php -m after purge"
    );
    assert!(
        !php_modules(php().fpm()).contains("apcu"),
        "{} -m after purge",
        php().fpm()
    );
    for sapi in SAPIS {
        let state = module_state_of(sapi, "ephpm_apcu");
        assert!(!state.contains("Enabled"), "phpquery {sapi}: {state}");
    }
    // APCu was removed, not purged, by the switch: its ini is still there.
    assert_eq!(dpkg_status(&debian), "deinstall ok config-files");
    apt(&["purge", &debian]);
    let after = file_list();
    assert!(before == after, "{}", difference(&before, &after));

    // The way back: installing Debian's APCu removes ours in one step, and
    // APCu's apcu.so is the one loaded again.
    apt(&["install", &deb_arg]);
    let out = apt(&["install", &debian]);
    assert!(
        is_installed(&debian) && !is_installed(&ours),
        "{debian} over {ours}:\n{out}"
    );
    let back = run(
        Command::new(&php().binary).args([
            "-r",
            "var_export([extension_loaded('apcu'), ini_get('apc.name')]);",
        ]),
        "php -r (Debian's APCu again)",
    );
    assert_eq!(
        back.split_whitespace().collect::<String>(),
        "array(0=>true,1=>false,)",
        "{debian} loaded after the way back"
    );
    purge_if_known(&ours);
    apt(&["purge", &debian]);
    let after = file_list();
    assert!(before == after, "{}", difference(&before, &after));

    // The machine as it was found.
    if debian_was {
        apt(&["install", &debian]);
    }
    if meta_was {
        apt(&["install", "php-apcu"]);
    }
    if ours_was {
        apt(&["install", &deb_arg]);
    }
}

/// Each of `FPM_WORKERS` pages answered "<pid> <count> ...", one increment
/// of one shared counter each: the counts, sorted, are exactly 1..=workers.
fn assert_counted_once_per_worker(bodies: &[String], what: &str) {
    let mut counts: Vec<i64> = bodies
        .iter()
        .map(|b| b.split(' ').nth(1).and_then(|n| n.parse().ok()).expect(b))
        .collect();
    counts.sort_unstable();
    let want: Vec<i64> = (1..=FPM_WORKERS as i64).collect();
    assert_eq!(counts, want, "{what}: {bodies:?}");
}

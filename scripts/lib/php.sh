# shellcheck shell=bash
# Sourced by the scripts: the PHP they build for, test with and package for.
# It is the PHP that `php-config` describes: $PHP_CONFIG picks another one
# (e.g. PHP_CONFIG=/usr/bin/php-config8.4), nothing else names a version.
# Names and paths follow Debian's PHP packaging (phpX.Y-* packages,
# php-fpmX.Y, /etc/php/X.Y/, /usr/lib/php/<phpapi>/).
#
# php_select sets:
#   php_config   the php-config used
#   php_version  X.Y (8.2), from `php-config --version`; before that PHP is
#                installed (./scripts/setup): $PHP_VERSION, else the X.Y in
#                $PHP_CONFIG's name, else the version Debian's php-cli
#                metapackage depends on (the distribution's default PHP)
#   php_ready    1 once php-config answers; then also:
#   php_bin      the php CLI of that PHP (`php-config --php-binary`)
#   php_fpm      its php-fpm (php-fpmX.Y: the php binary's suffix)
#   phpapi       its module API (20220829), what the package depends on
#   php_ext_dir  its extension directory (`php-config --extension-dir`)
# and, when $PHP_CONFIG is set, exports PHP for ext-php-rs's build script
# (it reads PHP and PHP_CONFIG; with neither set it uses `php` and
# `php-config` from $PATH, which is the same PHP, and the build stays as
# cargo last saw it).

php_select() {
    php_config="${PHP_CONFIG:-php-config}"
    php_ready=0
    if command -v "$php_config" >/dev/null 2>&1; then
        php_ready=1
        php_version="$("$php_config" --version | cut -d. -f1,2)"
        php_bin="$("$php_config" --php-binary)"
        phpapi="$("$php_config" --phpapi)"
        php_ext_dir="$("$php_config" --extension-dir)"
        # Debian's PHP binaries carry the version as a suffix (php8.2,
        # php-fpm8.2); a PHP built from source has none (php, php-fpm).
        php_fpm="php-fpm${php_bin##*/php}"
        if [ -n "${PHP_CONFIG:-}" ]; then
            export PHP="${PHP:-$php_bin}"
        fi
    elif [ -n "${PHP_VERSION:-}" ]; then
        php_version="$PHP_VERSION"
    elif [[ "$php_config" =~ php-config([0-9]+\.[0-9]+)$ ]]; then
        php_version="${BASH_REMATCH[1]}"
    else
        php_version="$(php_distribution_default)"
    fi
    [[ "$php_version" =~ ^[0-9]+\.[0-9]+$ ]] || {
        echo "cannot tell which PHP to use (got '$php_version'): set PHP_CONFIG or PHP_VERSION" >&2
        return 1
    }
}

# The X.Y of the PHP that `apt-get install php-cli` installs here.
php_distribution_default() {
    local sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    if ! apt-cache show php-cli >/dev/null 2>&1; then
        $sudo_cmd apt-get update -qq >&2
    fi
    apt-cache depends php-cli 2>/dev/null | sed -n 's/^ *Depends: php\([0-9]*\.[0-9]*\)-cli$/\1/p' | head -n 1
}

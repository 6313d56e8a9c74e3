//! The extension in Apache prefork + mod_php: several children share one
//! store with each other and with php-cli run by the same user, and the
//! native session handler serialises a session's requests across children.

use ephpm_shm_tests::browser::{lost_updates, parallel_increments};
use ephpm_shm_tests::servers::{
    first_pid, is_root, owner_and_mode, process_uid, Apache, Site, User, APACHE_CHILDREN,
};
use std::collections::BTreeSet;
use std::thread;

/// Phase one (no `pids`): the child writes `x:<its pid>`. Phase two: it
/// reads `x:<pid>` for every PID listed. Both wait 300 ms so that concurrent
/// requests are served by distinct children.
const EXCHANGE_PAGE: &str = r#"<?php
usleep(300000);
$me = getmypid();
if (!isset($_GET['pids'])) {
    ephpm_kv_set("x:$me", "written by $me");
    echo $me;
    exit;
}
echo $me;
foreach (explode(',', $_GET['pids']) as $pid) {
    echo ' ', $pid, '=', json_encode(ephpm_kv_get("x:$pid"));
}
"#;

#[test]
fn children_share_the_store_with_each_other_and_php_cli() {
    // Apache started by root runs its children as `User`, never root: use
    // www-data, and run php-cli as www-data too (the segment is theirs).
    let (user, cli_user) = if is_root() {
        let www = User::www_data();
        (www.clone(), Some(www))
    } else {
        (User::current(), None)
    };
    let site = Site::new();
    site.page("exchange.php", EXCHANGE_PAGE);
    let apache = Apache::start(&site, &user, "apache");
    let web = apache.root();

    // Each of 4 children writes a key; then each reads all 4.
    let writers: BTreeSet<u32> = web
        .on_distinct_workers(APACHE_CHILDREN, "exchange.php")
        .iter()
        .map(|b| first_pid(b))
        .collect();
    let now: BTreeSet<u32> = apache.children().into_iter().collect();
    assert!(
        writers.is_subset(&now),
        "answers from {writers:?}, children {now:?}"
    );
    // Children that have served a request run as `User`.
    for child in &writers {
        assert_eq!(
            process_uid(*child),
            Some(user.uid),
            "child {child} runs as {}",
            user.name
        );
    }
    let list: Vec<String> = writers.iter().map(u32::to_string).collect();
    let reads = web.on_distinct_workers(
        APACHE_CHILDREN,
        &format!("exchange.php?pids={}", list.join(",")),
    );
    for read in &reads {
        for writer in &writers {
            let expected = format!(" {writer}=\"written by {writer}\"");
            assert!(
                read.contains(&expected),
                "child {} read {read:?}",
                first_pid(read)
            );
        }
    }
    println!("children {writers:?} each read the keys of all the others");

    let segment = site.segment("apache");
    assert_eq!(
        owner_and_mode(&segment),
        (user.uid, 0o600),
        "segment owner and mode"
    );

    // php-cli as the children's user: reads a key written through Apache,
    // writes one that every child then reads.
    assert_eq!(
        web.kv("set", "from_apache", "written by a child").json,
        "true"
    );
    let got = site.php_run(
        "apache",
        cli_user.as_ref(),
        r#"echo ephpm_kv_get("from_apache"); ephpm_kv_set("from_cli", "written by php-cli");"#,
    );
    assert_eq!(got, "written by a child");
    for body in web.on_distinct_workers(APACHE_CHILDREN, "kv.php?op=get&key=from_cli&sleep_ms=300")
    {
        assert!(body.ends_with(" \"written by php-cli\"\n"), "{body:?}");
    }

    // Increments from several children and php-cli add up exactly.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let web = web.clone();
            thread::spawn(move || {
                (0..25)
                    .map(|_| web.kv("incr", "hits", "").pid)
                    .collect::<BTreeSet<u32>>()
            })
        })
        .collect();
    let cli = site.php_run(
        "apache",
        cli_user.as_ref(),
        "for ($i = 0; $i < 100; $i++) ephpm_kv_incr('hits'); echo 'ok';",
    );
    assert_eq!(cli, "ok");
    let mut pids = BTreeSet::new();
    for t in threads {
        pids.extend(t.join().unwrap());
    }
    assert_eq!(web.kv("get", "hits", "").json, "\"200\"");
    assert!(pids.len() >= 2, "100 increments all served by {pids:?}");
    assert_eq!(
        owner_and_mode(&segment),
        (user.uid, 0o600),
        "segment owner and mode at the end"
    );
}

#[test]
fn native_sessions_are_locked_across_children() {
    let user = if is_root() {
        User::www_data()
    } else {
        User::current()
    };
    let site = Site::new();
    let apache = Apache::start(&site, &user, "apache-sessions");
    let web = apache.root();
    // What `session.save_handler = ephpm` in php.ini does, per page.
    let native = |locking: &'static str| {
        move |body: &str| {
            format!(
                "<?php\nini_set('session.save_handler', 'ephpm');\n\
                 ini_set('ephpm_kv.session_locking', '{locking}');\n{body}\n"
            )
        }
    };
    let locked = parallel_increments(&site, &web, "locked", &native("1"), 2000);
    let (unlocked, window) = lost_updates(&site, &web, "unlocked", &native("0"));
    println!(
        "Apache children, 40 parallel increments on one session: locking on n={locked}, \
         locking off n={unlocked} (window {window} µs)"
    );
    assert_eq!(locked, 40, "with locking (the default)");
    assert!(unlocked < 40, "without locking: no lost update");
}

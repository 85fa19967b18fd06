//! The SSH transport against a real sshd on loopback (the harness starts its own, as the
//! current user): commands, batching, the login-shell environment, the LSF backend through the
//! simulator, uploads and downloads, and masters opened by `bsweep login`, lost and replaced.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::harness::sshd::{HOST, NOKEY_HOST, SshEnv};
use crate::need;
use bsweep::layout::JobPaths;
use bsweep::model::{Clock, State};
use bsweep::sched::lsf::{BjobsMode, LsfScheduler};
use bsweep::sched::{JobRef, Scheduler, Seen, Submission};
use bsweep::transport::ssh::{SshOpts, SshTransport};
use bsweep::transport::{Transport, TransportError, batch_script, parse_batch};

#[tokio::test(flavor = "current_thread")]
async fn a_script_gets_stdin_and_returns_stdout_stderr_and_code() {
    let env = need!(SshEnv::new());
    let t = env.connect().await;
    let out = t
        .run("echo out; echo err >&2; cat; exit 7", b"in put\n\x01")
        .await
        .unwrap();
    assert_eq!(out.stdout, "out\nin put\n\x01");
    assert!(out.stderr.ends_with("err\n"), "{:?}", out.stderr);
    assert_eq!(out.code, Some(7));
    // The profile's banner and the init line's chatter went to stderr, not into our stdout.
    assert!(out.stderr.contains("Welcome to the bsweep test cluster"));
    assert!(out.stderr.contains("init line ran"));

    // Exit codes openssh treats specially are plain codes while the connection is fine.
    assert_eq!(t.run("exit 255", b"").await.unwrap().code, Some(255));
    assert_eq!(
        t.run("no-such-command-here", b"").await.unwrap().code,
        Some(127)
    );

    // Remote commands start in the home directory, after the init line.
    let out = t.run("pwd; echo \"$LSFSIM_DIR\"", b"").await.unwrap();
    assert_eq!(
        out.stdout,
        format!("{}\n{}\n", env.sshd.home.display(), env.lsf)
    );

    // Several at once share the master.
    let (a, b, c, d) = tokio::join!(
        t.run("echo a", b""),
        t.run("sleep 0.2; echo b", b""),
        t.run("echo c", b""),
        t.run("echo d", b"")
    );
    let outs: Vec<String> = [a, b, c, d]
        .into_iter()
        .map(|r| r.unwrap().stdout)
        .collect();
    assert_eq!(outs, ["a\n", "b\n", "c\n", "d\n"]);
    assert_eq!(t.round_trips(), 8);
}

#[tokio::test(flavor = "current_thread")]
async fn a_batch_of_many_commands_is_one_round_trip() {
    let env = need!(SshEnv::new());
    let t = env.connect().await;
    let cmds: Vec<String> = (0..100)
        .map(|i| format!("echo line{i}; echo warn{i} >&2; exit {}", i % 5))
        .collect();
    let out = t.run(&batch_script(&cmds, None), b"").await.unwrap();
    let framed = parse_batch(&out.stdout, cmds.len());
    for (i, f) in framed.iter().enumerate() {
        assert_eq!(f.stdout, format!("line{i}\n"));
        assert_eq!(f.stderr, format!("warn{i}\n"));
        assert_eq!(f.code, Some((i % 5) as i32));
    }
    assert_eq!(t.round_trips(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn lsf_commands_come_from_the_login_profile_only() {
    let env = need!(SshEnv::new());
    let t = env.connect().await;
    let out = t.run("command -v bsub && lsid", b"").await.unwrap();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout
            .starts_with(&format!("{}/lsfbin/bsub\n", env.sshd.home.display()))
    );
    assert!(out.stdout.contains("LSF"), "{}", out.stdout);

    // A plain (non-login) ssh command does not see it: the setup is really profile-only.
    let plain = std::process::Command::new("ssh")
        .args([
            "-F",
            &env.sshd.config.to_string_lossy(),
            "-o",
            "BatchMode=yes",
            HOST,
        ])
        .arg("bash -c 'command -v bsub'")
        .output()
        .unwrap();
    assert_eq!(plain.status.code(), Some(1), "{plain:?}");
    assert!(plain.stdout.is_empty());
}

fn job_script(env: &SshEnv, i: usize) -> String {
    format!(
        "#!/bin/bash\n#BSUB -J bsw-sshtest-{i}\n#BSUB -o {r}/out/{i}/stdout.txt\n\
         echo hello from point {i}\nsleep 0.3\n",
        r = env.remote
    )
}

#[tokio::test(flavor = "current_thread")]
async fn the_lsf_backend_submits_and_polls_over_ssh() {
    let env = need!(SshEnv::new());
    let t = env.connect().await;
    let mut files = Vec::new();
    for i in 0..5 {
        files.push((
            format!("jobs/job{i}.sh"),
            job_script(&env, i).into_bytes(),
            0o755,
        ));
        files.push((format!("out/{i}/.keep"), Vec::new(), 0o644));
    }
    t.upload(&env.remote, &files).await.unwrap();
    assert_eq!(t.round_trips(), 1);

    let spec = bsweep::spec::Spec::from_toml(
        "name = \"sshtest\"\nbackend = \"lsf\"\ncommand = \"true\"\n[lsf]\nsettle = 2\n",
        std::path::Path::new("sshtest.toml"),
    )
    .unwrap();
    let jobs = JobPaths::new(PathBuf::from(&env.remote));
    // The scripts are already there (uploaded above): nothing to send with the submissions.
    let mut sched = LsfScheduler::new(
        &t,
        &spec,
        BjobsMode::Json,
        "sshtest",
        &jobs,
        false,
        Clock::system(),
    );
    let subs: Vec<Submission> = (0..5)
        .map(|i| Submission {
            index: i as u64,
            attempt: 1,
            job_name: format!("bsw-sshtest-{i}"),
            script_path: PathBuf::from(format!("{}/jobs/job{i}.sh", env.remote)),
            out_dir: PathBuf::from(format!("{}/out/{i}", env.remote)),
            target: 0,
            files: Vec::new(),
            dirs: Vec::new(),
        })
        .collect();
    let submitted = sched.submit(&subs).await;
    assert_eq!(t.round_trips(), 2, "five bsubs, one round trip");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let refs: Vec<JobRef> = subs
        .iter()
        .zip(&submitted)
        .map(|(s, r)| JobRef {
            job_id: r.as_ref().expect("bsub accepted the job").job_id.clone(),
            job_name: s.job_name.clone(),
            attempt: 1,
            out_dir: s.out_dir.clone(),
            report: s.out_dir.join("stdout.txt"),
            submitted: Some(now),
        })
        .collect();

    let start = Instant::now();
    let infos = loop {
        let infos = sched.status(&refs).await.unwrap();
        let done = |s: &Seen| matches!(s, Seen::Known(i) if i.state == State::Done);
        if infos.values().all(done) && infos.len() == 5 {
            break infos;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "jobs did not finish: {infos:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(
        infos
            .values()
            .all(|s| matches!(s, Seen::Known(i) if i.exit_code == Some(0))),
        "{infos:?}"
    );

    // The simulator saw exactly five bsub calls, made through the login shell's PATH.
    let calls = std::fs::read_to_string(format!("{}/calls.jsonl", env.lsf)).unwrap();
    let bsubs = calls
        .lines()
        .filter(|l| l.contains("\"cmd\":\"bsub\""))
        .count();
    assert_eq!(bsubs, 5, "{calls}");

    // The jobs' output comes back in one more round trip.
    let before = t.round_trips();
    let paths: Vec<String> = (0..5).map(|i| format!("out/{i}/stdout.txt")).collect();
    let local = env.local.path().join("results");
    let rep = t.download(&env.remote, &paths, &local).await.unwrap();
    assert_eq!(t.round_trips(), before + 1);
    assert_eq!(rep.fetched, paths);
    for i in 0..5 {
        let text = std::fs::read_to_string(local.join(format!("out/{i}/stdout.txt"))).unwrap();
        assert!(text.contains(&format!("hello from point {i}")), "{text}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn two_hundred_files_upload_in_one_round_trip() {
    let env = need!(SshEnv::new());
    let t = env.connect().await;
    let files: Vec<(String, Vec<u8>, u32)> = (0..200)
        .map(|i| {
            (
                format!("d{}/f{i}.txt", i % 7),
                format!("file {i}\n").repeat(i + 1).into_bytes(),
                if i % 2 == 0 { 0o644 } else { 0o755 },
            )
        })
        .collect();
    let start = Instant::now();
    t.upload(&format!("{}/up", env.remote), &files)
        .await
        .unwrap();
    let took = start.elapsed();
    assert_eq!(t.round_trips(), 1);
    eprintln!("uploaded 200 files in {took:?}");

    // The remote side is this machine: look at the files directly.
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let uid = std::fs::metadata(&env.sshd.home).unwrap().uid();
    for (path, data, mode) in &files {
        let p = PathBuf::from(format!("{}/up/{path}", env.remote));
        assert_eq!(&std::fs::read(&p).unwrap(), data, "{path}");
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, *mode, "{path}");
        assert_eq!(m.uid(), uid, "{path} belongs to the remote user");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn downloads_report_missing_paths_and_expand_home() {
    let env = need!(SshEnv::new());
    let t = env.connect().await;
    let files = vec![
        ("a.txt".to_string(), b"A".to_vec(), 0o644),
        ("sub/b.txt".to_string(), b"B".to_vec(), 0o644),
        ("dir/c.txt".to_string(), b"C".to_vec(), 0o644),
        ("dir/deeper/d.txt".to_string(), b"D".to_vec(), 0o644),
    ];
    t.upload(&env.remote, &files).await.unwrap();
    let home_relative = format!(
        "~/{}",
        env.remote
            .strip_prefix(&format!("{}/", env.sshd.home.display()))
            .unwrap()
    );
    let wanted: Vec<String> = ["a.txt", "sub/b.txt", "nope.txt", "dir", "sub/none"]
        .map(String::from)
        .to_vec();
    let local = env.local.path().join("down");
    let rep = t.download(&home_relative, &wanted, &local).await.unwrap();
    assert_eq!(t.round_trips(), 2);
    assert_eq!(rep.fetched, vec!["a.txt", "sub/b.txt", "dir"]);
    assert_eq!(rep.missing, vec!["nope.txt", "sub/none"]);
    assert!(rep.rejected.is_empty());
    assert_eq!(std::fs::read(local.join("a.txt")).unwrap(), b"A");
    assert_eq!(std::fs::read(local.join("sub/b.txt")).unwrap(), b"B");
    assert_eq!(std::fs::read(local.join("dir/deeper/d.txt")).unwrap(), b"D");

    // Nothing there at all: no archive, everything missing, still one round trip.
    let rep = t
        .download("~/no-such-dir-here", &["x".to_string()], &local)
        .await
        .unwrap();
    assert_eq!(rep.missing, vec!["x"]);
    assert!(rep.fetched.is_empty());

    // Paths that leave the directory are refused before anything runs.
    let before = t.round_trips();
    for bad in ["../etc/passwd", "/etc/passwd"] {
        let e = t.download(&env.remote, &[bad.to_string()], &local).await;
        assert!(
            matches!(
                e,
                Err(TransportError::Archive {
                    source: bsweep::transport::archive::ArchiveError::BadPath { .. },
                    ..
                })
            ),
            "{bad}: {e:?}"
        );
    }
    assert_eq!(t.round_trips(), before);
}

#[tokio::test(flavor = "current_thread")]
async fn a_login_master_is_used_and_its_loss_asks_for_login_fast() {
    let env = need!(SshEnv::new());
    let dir = env.control_dir();
    let master = env.master(HOST);
    assert!(!master.check());
    // What `bsweep login` runs in a terminal; key auth stands in for password + TOTP here.
    let st = master.login_command().unwrap().status().unwrap();
    assert!(st.success());
    assert!(master.check());

    let login_only = SshOpts {
        interactive_auth: true,
        ..env.opts()
    };
    let t = SshTransport::connect(HOST, &dir, login_only.clone())
        .await
        .unwrap();
    assert_eq!(
        t.run("echo via login", b"").await.unwrap().stdout,
        "via login\n"
    );
    let pid = env.master_pid(HOST).unwrap();
    // A second process (here: a second transport) shares that master.
    let t2 = SshTransport::connect(HOST, &dir, login_only.clone())
        .await
        .unwrap();
    assert_eq!(t2.run("true", b"").await.unwrap().code, Some(0));
    assert_eq!(env.master_pid(HOST), Some(pid));

    env.kill_master(HOST);
    assert!(!master.check());
    let start = Instant::now();
    let e = SshTransport::connect(HOST, &dir, login_only)
        .await
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(
        matches!(&e, TransportError::NeedsLogin { host } if host == HOST),
        "{e:?}"
    );
    assert!(e.to_string().contains("bsweep login bsweep-test"), "{e}");
    let start = Instant::now();
    let e = t.run("echo again", b"").await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(matches!(e, TransportError::NeedsLogin { .. }), "{e:?}");

    // Logging in again (over the stale socket the killed master left) brings it back.
    let st = master.login_command().unwrap().status().unwrap();
    assert!(st.success());
    assert_eq!(t.run("echo back", b"").await.unwrap().stdout, "back\n");
    assert!(master.close().unwrap());
    assert!(!master.check());
}

#[tokio::test(flavor = "current_thread")]
async fn a_host_that_refuses_batch_auth_asks_for_login_fast() {
    let env = need!(SshEnv::new());
    let opts = SshOpts {
        config_file: Some(env.sshd.config.clone()),
        ..SshOpts::default()
    };
    let start = Instant::now();
    let e = SshTransport::connect(NOKEY_HOST, &env.control_dir(), opts)
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(matches!(e, TransportError::NeedsLogin { .. }), "{e:?}");
    eprintln!("auth failure reported in {took:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_key_host_master_killed_mid_use_is_replaced() {
    let env = need!(SshEnv::new());
    let t = env.connect().await;
    assert_eq!(t.run("echo one", b"").await.unwrap().stdout, "one\n");
    let first = env.master_pid(HOST).unwrap();
    // Another process attaches to the same master instead of opening its own.
    let t2 = env.connect().await;
    assert_eq!(env.master_pid(HOST), Some(first));

    env.kill_master(HOST);
    let start = Instant::now();
    assert_eq!(t.run("echo two", b"").await.unwrap().stdout, "two\n");
    eprintln!("reconnected and ran in {:?}", start.elapsed());
    let second = env.master_pid(HOST).unwrap();
    assert_ne!(first, second);
    // The other transport finds the new master at the same socket.
    assert_eq!(t2.run("echo three", b"").await.unwrap().stdout, "three\n");
    assert_eq!(env.master_pid(HOST), Some(second));
    assert_eq!(t.round_trips(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_command_cut_by_a_lost_connection_is_an_error_not_an_exit_code() {
    let env = need!(SshEnv::new());
    let t = env.connect().await;
    let pid = env.master_pid(HOST).unwrap();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    });
    let e = t.run("echo started; sleep 5", b"").await.unwrap_err();
    killer.join().unwrap();
    assert!(matches!(e, TransportError::Connection { .. }), "{e:?}");
    // The next command gets a new master.
    assert_eq!(t.run("echo ok", b"").await.unwrap().stdout, "ok\n");
}

#[tokio::test(flavor = "current_thread")]
async fn connects_racing_on_a_fresh_host_share_one_master() {
    let env = need!(SshEnv::new());
    let (dir, opts) = (env.control_dir(), env.opts());
    let (a, b, c) = tokio::join!(
        SshTransport::connect(HOST, &dir, opts.clone()),
        SshTransport::connect(HOST, &dir, opts.clone()),
        SshTransport::connect(HOST, &dir, opts.clone())
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    let pid = env.master_pid(HOST).unwrap();
    for t in [&a, &b, &c] {
        assert_eq!(t.run("echo x", b"").await.unwrap().stdout, "x\n");
    }
    assert_eq!(env.master_pid(HOST), Some(pid));
    // One ssh master process for this control directory, not three.
    let ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .unwrap();
    let masters = String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|l| l.contains(&*dir.to_string_lossy()) && l.contains(" -M "))
        .count();
    assert_eq!(masters, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_strict_host_key_setting_in_the_users_config_is_kept() {
    // The test host's block, but with `StrictHostKeyChecking yes` and a known_hosts file that
    // does not know the host: ssh must refuse, and bsweep must not quietly add the key.
    let env = need!(SshEnv::new());
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("known_hosts");
    let base = std::fs::read_to_string(&env.sshd.config).unwrap();
    let block: String = base
        .split("\nHost ")
        .next()
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.contains("StrictHostKeyChecking") && !l.contains("UserKnownHostsFile"))
        .map(|l| format!("{l}\n"))
        .collect();
    let cfg = dir.path().join("ssh_config");
    std::fs::write(
        &cfg,
        format!(
            "Host strict-test\n{block}    StrictHostKeyChecking yes\n    UserKnownHostsFile {}\n",
            known.display()
        ),
    )
    .unwrap();
    let opts = SshOpts {
        config_file: Some(cfg.clone()),
        ..SshOpts::default()
    };
    let e = SshTransport::connect("strict-test", &env.control_dir(), opts)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("Host key verification failed"),
        "{e}"
    );
    assert!(!known.exists() || std::fs::read_to_string(&known).unwrap().is_empty());

    // The same block with accept-new, as a user may choose: the key is learned and it works.
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "StrictHostKeyChecking yes",
        "StrictHostKeyChecking accept-new",
    );
    std::fs::write(&cfg, text).unwrap();
    let opts = SshOpts {
        config_file: Some(cfg),
        ..SshOpts::default()
    };
    let t = SshTransport::connect("strict-test", &env.control_dir(), opts)
        .await
        .unwrap();
    assert_eq!(t.run("echo in", b"").await.unwrap().stdout, "in\n");
    assert!(
        std::fs::read_to_string(&known)
            .unwrap()
            .contains("ssh-ed25519")
    );
}

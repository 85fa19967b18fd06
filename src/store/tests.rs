//! Tests of the store: recording, reopening, locking, damage and rebuilds.

use super::*;
use crate::model::{AttemptRec, JobId, State};
use crate::spec::Value;

fn meta(name: &str, count: u64) -> SweepMeta {
    SweepMeta {
        name: name.into(),
        id: "abc123".into(),
        created: 0.0,
        source: "x.toml".into(),
        spec_text: String::new(),
        backend: BackendKind::Local,
        count,
        param_names: vec!["a".into()],
        targets: vec!["default".into()],
        host: None,
        remote_home: None,
        cluster_dir: None,
    }
}

fn point(i: u64) -> PointRec {
    PointRec::new(i, vec![("a".into(), Value::Int(i as i64))])
}

fn create(home: &Home, name: &str, n: u64) -> Result<Store, StoreError> {
    Store::create(
        home,
        meta(name, n),
        (0..n).map(point),
        "launch",
        &mut |_| {},
    )
}

#[test]
fn the_creation_time_reads_back_to_the_bit() {
    // It is half of the key marking the sweep's remote directory as its own: a time one ulp
    // off made `delete` keep a directory it had made (this one did, with serde_json's default
    // float parser).
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().to_path_buf());
    let created = 1_796_000_238.380_290_3;
    let m = SweepMeta {
        created,
        ..meta("t", 1)
    };
    drop(Store::create(&home, m, [point(0)], "launch", &mut |_| {}).unwrap());
    let store = Store::open(&home, "t", "status").unwrap();
    assert_eq!(store.meta().created.to_bits(), created.to_bits());
    assert_eq!(store.meta().created.to_string(), "1796000238.3802903");
}

#[test]
fn create_reopen_and_refuse_second_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().to_path_buf());
    let store = create(&home, "s1", 3).unwrap();
    let mut pts = store.load_points().unwrap();
    assert_eq!(pts.len(), 3);
    assert_eq!(pts[2].params[0].1, Value::Int(2));
    let mut a = AttemptRec::intent(1, "j".into(), 0, 1.0);
    a.accept(JobId::new("77"), None, 1.0);
    a.set_state(State::Running);
    pts[1].attempts.push(a);
    store.put_points([&pts[1]]).unwrap();
    store.flush().unwrap();

    // A second holder in this process is refused at once (flock is per open file).
    match Store::open(&home, "s1", "status") {
        Err(StoreError::InUse { pid, command, .. }) => {
            assert_eq!(pid, std::process::id().to_string());
            assert_eq!(command, "launch");
        }
        other => panic!("expected InUse, got {:?}", other.err()),
    }
    assert!(matches!(create(&home, "s1", 1), Err(StoreError::Exists(_))));
    drop(store);
    let store = Store::open(&home, "s1", "status").unwrap();
    assert_eq!(store.point(1).unwrap().state(), State::Running);
    assert_eq!(store.point(0).unwrap().state(), State::Unsubmitted);
    let from_1: Vec<u64> = store.points_from(1).map(|p| p.unwrap().index).collect();
    assert_eq!(from_1, [1, 2]);
    assert_eq!(home.sweep_names(), vec!["s1".to_string()]);
}

#[test]
fn missing_sweep_is_not_found_and_a_path_is_not_a_name() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().to_path_buf());
    assert!(matches!(
        Store::open(&home, "nope", "status"),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        Store::open(&home, "../x", "status"),
        Err(StoreError::Name(_))
    ));
    assert!(!tmp.path().join("x").exists());
}

#[test]
fn a_recording_left_unfinished_is_no_sweep_and_is_replaced_by_the_next_launch() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().to_path_buf());
    let paths = home.sweep("s").unwrap();
    // What `kill -9` during recording leaves: a lock nobody holds and a partial database.
    fs::create_dir_all(paths.db_partial()).unwrap();
    fs::write(paths.db_partial().join("junk"), b"x").unwrap();
    fs::write(paths.lock(), b"12345 launch").unwrap();
    assert!(matches!(
        Store::open(&home, "s", "status"),
        Err(StoreError::NotFound(_))
    ));
    assert!(home.sweep_names().is_empty());
    let store = create(&home, "s", 5).unwrap();
    assert_eq!(store.load_points().unwrap().len(), 5);
    assert!(!paths.db_partial().exists());
}

#[test]
fn a_schema_2_store_with_one_key_per_point_opens_and_is_written_in_its_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().to_path_buf());
    let paths = home.sweep("old").unwrap();
    fs::create_dir_all(paths.dir()).unwrap();
    let m = meta("old", 3);
    write_record(&paths, &m).unwrap();
    {
        // What bsweep wrote before pages: schema "2", `p<index>` keys.
        let db = sled::Config::new().path(paths.db()).open().unwrap();
        db.insert(KEY_SCHEMA, b"2").unwrap();
        db.insert(KEY_META, encode(&m)).unwrap();
        for i in 0..3 {
            db.insert(point_key(i), encode(&point(i))).unwrap();
        }
        db.flush().unwrap();
    }
    let store = Store::open(&home, "old", "resume").unwrap();
    assert_eq!(store.load_points().unwrap().len(), 3);
    let mut p = store.point(2).unwrap();
    p.attempts.push(AttemptRec::intent(1, "j".into(), 0, 1.0));
    store.put_points([&p]).unwrap();
    store.flush().unwrap();
    drop(store);
    let store = Store::open(&home, "old", "status").unwrap();
    assert!(store.point(2).unwrap().last().unwrap().is_intent());
    let from: Vec<u64> = store.points_from(1).map(|p| p.unwrap().index).collect();
    assert_eq!(from, [1, 2]);
}

#[test]
fn pages_hold_every_point_once_across_their_edges() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().to_path_buf());
    let n = PAGE * 3 + 5;
    let store = create(&home, "pg", n).unwrap();
    let all: Vec<u64> = store.points().map(|p| p.unwrap().index).collect();
    assert_eq!(all, (0..n).collect::<Vec<_>>());
    let from: Vec<u64> = store
        .points_from(PAGE - 1)
        .map(|p| p.unwrap().index)
        .collect();
    assert_eq!(from.first(), Some(&(PAGE - 1)));
    assert_eq!(from.len() as u64, n - PAGE + 1);
    // Points of three pages written in one batch, in any order.
    let mut ps = store.points_at(&[n - 1, 0, PAGE]).unwrap();
    assert_eq!(
        ps.iter().map(|p| p.index).collect::<Vec<_>>(),
        [n - 1, 0, PAGE]
    );
    for p in &mut ps {
        p.attempts
            .push(AttemptRec::intent(1, format!("j{}", p.index), 0, 1.0));
    }
    store.put_points(&ps).unwrap();
    let got = store.load_points().unwrap();
    let with: Vec<u64> = got
        .iter()
        .filter(|p| !p.attempts.is_empty())
        .map(|p| p.index)
        .collect();
    assert_eq!(with, [0, PAGE, n - 1]);
    assert!(matches!(store.point(n), Err(StoreError::Damaged { .. })));
}

#[test]
fn replace_keeps_the_old_database_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().to_path_buf());
    drop(create(&home, "s", 2).unwrap());
    let rebuild = Store::begin_rebuild(&home, "s", "recover").unwrap();
    assert!(matches!(
        Store::open(&home, "s", "status"),
        Err(StoreError::InUse { .. })
    ));
    let store = rebuild.finish(meta("s", 2), (0..2).map(point)).unwrap();
    assert_eq!(store.load_points().unwrap().len(), 2);
    let aside: Vec<_> = fs::read_dir(store.dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("db.damaged-"))
        .collect();
    assert_eq!(aside.len(), 1);
}

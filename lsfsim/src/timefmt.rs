//! Local-time renderings LSF uses: "Oct 22 09:22", "Tue Jul 24 10:26:42", ctime, "10/19-17:10:27".

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

struct Tm {
    year: i32,
    mon: usize,
    mday: i32,
    wday: usize,
    hour: i32,
    min: i32,
    sec: i32,
}

fn local(ms: u64) -> Tm {
    let t = (ms / 1000) as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&t, &mut tm) };
    Tm {
        year: tm.tm_year + 1900,
        mon: tm.tm_mon.clamp(0, 11) as usize,
        mday: tm.tm_mday,
        wday: tm.tm_wday.clamp(0, 6) as usize,
        hour: tm.tm_hour,
        min: tm.tm_min,
        sec: tm.tm_sec,
    }
}

/// bjobs SUBMIT_TIME and -o times: "Oct 22 09:22", day space-padded ("Apr  5 13:39").
pub fn short(ms: u64) -> String {
    let t = local(ms);
    format!("{} {:>2} {:02}:{:02}", MONTHS[t.mon], t.mday, t.hour, t.min)
}

/// bhist/bjobs -l event stamps: "Tue Dec  2 21:39:11".
pub fn event(ms: u64) -> String {
    let t = local(ms);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02}",
        DAYS[t.wday], MONTHS[t.mon], t.mday, t.hour, t.min, t.sec
    )
}

/// ctime(3) without the newline, as in the job report: "Sun Apr  5 13:39:21 2020".
pub fn ctime(ms: u64) -> String {
    format!("{} {}", event(ms), local(ms).year)
}

/// bjobs -W: "10/19-17:10:27".
pub fn wide(ms: u64) -> String {
    let t = local(ms);
    format!(
        "{:02}/{:02}-{:02}:{:02}:{:02}",
        t.mon + 1,
        t.mday,
        t.hour,
        t.min,
        t.sec
    )
}

/// -hms durations: "00:00:08" (hours may exceed 24).
pub fn hms(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

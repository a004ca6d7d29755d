//! Where the operating systems differ, and only that: every `cfg(unix)` / `cfg(windows)` of the
//! server is here, so the rest of the code reads the same on Linux, macOS and Windows.
//!
//! | | Unix (Linux, macOS) | Windows |
//! | --- | --- | --- |
//! | state directory (the audit log's default home) | `$XDG_STATE_HOME`, else `~/.local/state`, on macOS too | `%LOCALAPPDATA%` |
//! | home (for `~/.kube/config`) | `HOME` | `HOME`, then `USERPROFILE`, as kubectl looks |
//! | owner-only files | directory 0700, file 0600, whatever the parent | the ACL inherited from the directory (`%LOCALAPPDATA%` is the user's own) |
//! | a file's lock | `File::lock` (`flock`) | `File::lock` (`LockFileEx`) |
//! | shutdown, besides stdin closing | SIGTERM, SIGINT | Ctrl-C, Ctrl-Break, the console closing |
//! | the OS user | the effective uid, named by `/etc/passwd`, else `$USER` | `GetUserNameW` |
//! | the host name | `gethostname` | `GetComputerNameExW` (DNS host name) |
//! | a desktop to open a browser on | `DISPLAY` or `WAYLAND_DISPLAY` (always on macOS) | always |
//! | the browser opener | `open` (macOS), `xdg-open` | `cmd /C start` |
//!
//! macOS keeps the XDG path rather than `~/Library/Application Support`: the server is a
//! command-line program, one rule for every Unix is one path to document and `jq` (no space to
//! quote), and `XDG_STATE_HOME` moves it on both.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// The directory this server keeps its state under (`<state>/k8s-rollout-mcp/audit.jsonl`);
/// `None` when the environment names none ([`STATE_DIR_UNSET`]).
pub fn state_dir() -> Option<PathBuf> {
    #[cfg(unix)]
    {
        std::env::var_os("XDG_STATE_HOME")
            .filter(|dir| Path::new(dir).is_absolute())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(|home| PathBuf::from(home).join(".local").join("state"))
            })
    }
    #[cfg(windows)]
    {
        std::env::var_os("LOCALAPPDATA")
            .filter(|dir| Path::new(dir).is_absolute())
            .map(PathBuf::from)
    }
}

/// Why [`state_dir`] found none, for error messages.
pub const STATE_DIR_UNSET: &str = if cfg!(windows) {
    "LOCALAPPDATA is not set"
} else {
    "neither XDG_STATE_HOME nor HOME is set"
};

/// The home directories that may hold `.kube/config`, in the order kubectl looks.
pub fn home_dirs() -> Vec<PathBuf> {
    let names: &[&str] = if cfg!(windows) {
        &["HOME", "USERPROFILE"]
    } else {
        &["HOME"]
    };
    names
        .iter()
        .filter_map(|name| std::env::var_os(name).filter(|dir| !dir.is_empty()))
        .map(PathBuf::from)
        .collect()
}

/// Creates `dir` and its missing parents, the new ones owner-only.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(windows)]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Opens `path` to read and append, creating it owner-only.
pub fn open_private_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).read(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Makes a new entry in `dir` durable. Unix needs the directory itself synced; NTFS journals
/// its directories, and Windows cannot open one as a file.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(windows)]
    {
        let _ = dir;
        Ok(())
    }
}

/// Fills `buffer` from `file` at `offset`, without a shared cursor on Unix; on Windows the
/// cursor moves, which an append-only handle's writes ignore.
pub fn read_exact_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buffer, offset)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let (mut buffer, mut offset) = (buffer, offset);
        while !buffer.is_empty() {
            match file.seek_read(buffer, offset) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(read) => {
                    buffer = &mut buffer[read..];
                    offset += read as u64;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

/// Resolves when the process is asked to stop: SIGTERM (the MCP stdio shutdown sequence) or
/// SIGINT (a terminal) on Unix; Ctrl-C, Ctrl-Break or the console closing on Windows, where
/// hosts end a server by closing its stdin (which ends the session by itself) and then
/// terminating it. Never resolves if the handlers cannot be installed.
pub async fn shutdown_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            _ => std::future::pending().await,
        }
    }
    #[cfg(windows)]
    {
        use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close};
        match (ctrl_c(), ctrl_break(), ctrl_close()) {
            (Ok(mut c), Ok(mut brk), Ok(mut close)) => {
                tokio::select! {
                    _ = c.recv() => {}
                    _ = brk.recv() => {}
                    _ = close.recv() => {}
                }
            }
            _ => std::future::pending().await,
        }
    }
}

/// The operating-system user running the server: its name, where the system says it, and its
/// uid on Unix.
pub fn os_user() -> (Option<String>, Option<u32>) {
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        let from_passwd = std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|passwd| passwd_name(&passwd, uid));
        let name = from_passwd.or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()));
        (name, Some(uid))
    }
    #[cfg(windows)]
    {
        use windows_sys::Win32::System::WindowsProgramming::GetUserNameW;
        // UNLEN + 1: the longest user name Windows allows and its terminating NUL.
        let mut name = [0u16; 257];
        let mut length = name.len() as u32;
        // SAFETY: `name` is writable for `length` UTF-16 units; on success `length` counts
        // the units written, the NUL included.
        let named = unsafe { GetUserNameW(name.as_mut_ptr(), &mut length) } != 0;
        let name =
            (named && length > 1).then(|| String::from_utf16_lossy(&name[..length as usize - 1]));
        (name, None)
    }
}

/// The name of `uid` in a passwd file (`name:x:uid:gid:...`). macOS keeps its users in
/// Directory Services, so there only `$USER` names them.
#[cfg(unix)]
fn passwd_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let entry_uid: u32 = fields.nth(1)?.parse().ok()?;
        (entry_uid == uid && !name.is_empty()).then(|| name.to_string())
    })
}

/// This machine's host name, as the system says it.
pub fn host_name() -> Option<String> {
    #[cfg(unix)]
    let name = {
        let mut name = [0u8; 256];
        // SAFETY: `name` is writable for its whole length, which is what we pass.
        let named = unsafe { libc::gethostname(name.as_mut_ptr().cast(), name.len()) } == 0;
        let end = name
            .iter()
            .position(|&byte| byte == 0)
            .unwrap_or(name.len());
        named.then(|| String::from_utf8_lossy(&name[..end]).into_owned())
    };
    #[cfg(windows)]
    let name = {
        use windows_sys::Win32::System::SystemInformation::{
            ComputerNameDnsHostname, GetComputerNameExW,
        };
        let mut name = [0u16; 256];
        let mut length = name.len() as u32;
        // SAFETY: `name` is writable for `length` UTF-16 units; on success `length` counts
        // the units written, without the NUL.
        let named =
            unsafe { GetComputerNameExW(ComputerNameDnsHostname, name.as_mut_ptr(), &mut length) }
                != 0;
        named.then(|| String::from_utf16_lossy(&name[..length as usize]))
    };
    name.map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
}

/// Whether a person sits at a desktop where a browser started here would show: always on
/// macOS and Windows; elsewhere when `DISPLAY` or `WAYLAND_DISPLAY` is set.
pub fn has_desktop() -> bool {
    cfg!(any(target_os = "macos", windows))
        || ["DISPLAY", "WAYLAND_DISPLAY"]
            .into_iter()
            .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

/// The command that opens a URL (appended as its last argument) in the default browser.
/// Windows' `start` takes a first quoted argument as a window title, hence the empty one; the
/// approval URLs hold nothing `cmd` would interpret (letters, digits, `:/.-_`).
pub const BROWSER_OPENER: &[&str] = if cfg!(target_os = "macos") {
    &["open"]
} else if cfg!(windows) {
    &["cmd", "/C", "start", ""]
} else {
    &["xdg-open"]
};

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn finds_the_uid_in_a_passwd_file() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken\njane:x:1000:1000::/home/jane:/bin/sh\n";
        assert_eq!(passwd_name(passwd, 1000).as_deref(), Some("jane"));
        assert_eq!(passwd_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(passwd_name(passwd, 42), None);
    }

    #[test]
    fn names_this_user_and_host() {
        let (name, _) = os_user();
        assert!(name.is_some_and(|name| !name.is_empty()));
        assert!(host_name().is_some_and(|name| !name.is_empty()));
    }

    #[test]
    fn reads_at_an_offset_to_the_end_and_no_further() {
        let path = std::env::temp_dir().join(format!("platform-read-at-{}", std::process::id()));
        std::fs::write(&path, b"0123456789").unwrap();
        let file = File::open(&path).unwrap();
        let mut buffer = [0u8; 4];
        read_exact_at(&file, &mut buffer, 6).unwrap();
        assert_eq!(&buffer, b"6789");
        let error = read_exact_at(&file, &mut buffer, 7).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        std::fs::remove_file(path).unwrap();
    }
}

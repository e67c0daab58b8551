//! File access inside a user's home that the user cannot fool.
//!
//! The user owns their home, so any path below it may be swapped for a symlink, a hard
//! link or a FIFO between our look and our write. Every component is therefore opened
//! relative to its parent's fd with O_NOFOLLOW, judged by fstat on the fd, changed with
//! fchown/fchmod on the fd, and replaced atomically (O_EXCL temp, fsync, rename, fsync).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{openat, renameat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstat, fstatat, mkdirat, FileStat, Mode, SFlag};
use nix::unistd::{fchown, unlinkat, Gid, Uid, UnlinkatFlags};

/// Largest authorized_keys we read; beyond this something is wrong with the file.
const MAX_FILE: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Other,
}

/// What lstat says of one path, the facts sshd's StrictModes judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits only (`0o7777`).
    pub mode: u32,
    pub nlink: u64,
}

impl Meta {
    pub fn of(stat: &FileStat) -> Meta {
        let format = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
        let kind = match format {
            SFlag::S_IFDIR => Kind::Dir,
            SFlag::S_IFREG => Kind::File,
            SFlag::S_IFLNK => Kind::Symlink,
            _ => Kind::Other,
        };
        Meta {
            kind,
            uid: stat.st_uid,
            gid: stat.st_gid,
            mode: stat.st_mode & 0o7777,
            nlink: stat.st_nlink,
        }
    }

    /// sshd refuses group/other write anywhere on the path.
    pub fn writable_by_others(&self) -> bool {
        self.mode & 0o022 != 0
    }
}

/// Opens the directory holding `home`. Components above the home are root's, so the
/// path is resolved normally; only the home and below are treated as hostile.
pub fn open_home_parent(home: &Path) -> io::Result<(OwnedFd, &OsStr)> {
    let name = home
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "home has no name"))?;
    let parent = home.parent().unwrap_or(Path::new("/"));
    let fd = openat(
        nix::fcntl::AT_FDCWD,
        parent,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    Ok((fd, name))
}

/// lstat relative to a directory fd; `None` when absent.
pub fn stat_at(dir: impl AsFd, name: &OsStr) -> io::Result<Option<Meta>> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(Meta::of(&stat))),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Opens a directory component, refusing symlinks and anything that is not a directory.
pub fn open_dir_at(dir: impl AsFd, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(dir, name, flags, Mode::empty()).map_err(|e| refuse(e, name))
}

/// Opens a file for reading without following links or blocking on a FIFO, and checks
/// the fd is a regular file with a single link.
pub fn open_regular_at(dir: impl AsFd, name: &OsStr) -> io::Result<Option<(File, Meta)>> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = match openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(refuse(e, name)),
    };
    let meta = Meta::of(&fstat(&fd)?);
    check_regular(&meta, name)?;
    Ok(Some((File::from(fd), meta)))
}

pub fn check_regular(meta: &Meta, name: &OsStr) -> io::Result<()> {
    if meta.kind != Kind::File {
        return Err(unsafe_file(name, "is not a regular file"));
    }
    if meta.nlink > 1 {
        return Err(unsafe_file(name, "has more than one hard link"));
    }
    Ok(())
}

pub fn read_all(file: &mut File) -> io::Result<Vec<u8>> {
    let mut content = Vec::new();
    file.take(MAX_FILE + 1).read_to_end(&mut content)?;
    if content.len() as u64 > MAX_FILE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "file is larger than 16 MiB",
        ));
    }
    Ok(content)
}

/// Creates the directory if absent, then opens it and gives it exactly this owner and mode.
/// Returns whether anything changed.
pub fn ensure_dir_at(
    dir: impl AsFd,
    name: &OsStr,
    uid: u32,
    gid: u32,
    mode: u32,
) -> io::Result<bool> {
    let mut changed = false;
    match mkdirat(dir.as_fd(), name, Mode::from_bits_truncate(mode)) {
        Ok(()) => changed = true,
        Err(Errno::EEXIST) => {}
        Err(e) => return Err(e.into()),
    }
    let fd = open_dir_at(dir, name)?;
    check_not_foreign(&Meta::of(&fstat(&fd)?), uid, name)?;
    changed |= set_owner_mode(&fd, uid, gid, mode)?;
    Ok(changed)
}

/// Refuses a path owned by a living account other than `uid` (root is fine): it was
/// planted or belongs to someone else, and must be neither taken over nor read.
pub fn check_not_foreign(meta: &Meta, uid: u32, name: &OsStr) -> io::Result<()> {
    if meta.uid == uid || meta.uid == 0 {
        return Ok(());
    }
    match nix::unistd::User::from_uid(Uid::from_raw(meta.uid)) {
        Ok(Some(owner)) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "refusing {}: it belongs to the account {}",
                name.to_string_lossy(),
                owner.name
            ),
        )),
        _ => Ok(()),
    }
}

/// Only strips group/other write: the rest of a home's mode is the owner's choice.
pub fn strip_group_other_write(fd: impl AsFd) -> io::Result<bool> {
    let meta = Meta::of(&fstat(fd.as_fd())?);
    if !meta.writable_by_others() {
        return Ok(false);
    }
    fchmod(fd, Mode::from_bits_truncate(meta.mode & !0o022))?;
    Ok(true)
}

/// fchown/fchmod on an open fd, only where they differ.
pub fn set_owner_mode(fd: impl AsFd, uid: u32, gid: u32, mode: u32) -> io::Result<bool> {
    let meta = Meta::of(&fstat(fd.as_fd())?);
    let mut changed = false;
    if meta.uid != uid || meta.gid != gid {
        fchown(
            fd.as_fd(),
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
        )?;
        changed = true;
    }
    if meta.mode != mode {
        fchmod(fd.as_fd(), Mode::from_bits_truncate(mode))?;
        changed = true;
    }
    Ok(changed)
}

/// Creates an empty file if absent (O_EXCL, so nothing planted is reused), then sets
/// owner and mode on the opened fd.
pub fn ensure_file_at(
    dir: impl AsFd,
    name: &OsStr,
    uid: u32,
    gid: u32,
    mode: u32,
) -> io::Result<bool> {
    let create =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match openat(dir.as_fd(), name, create, Mode::from_bits_truncate(mode)) {
        Ok(fd) => {
            set_owner_mode(&fd, uid, gid, mode)?;
            File::from(fd).sync_all()?;
            return Ok(true);
        }
        Err(Errno::EEXIST) => {}
        Err(e) => return Err(refuse(e, name)),
    }
    let (file, meta) = open_regular_at(dir, name)?.ok_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "file vanished while being checked")
    })?;
    check_not_foreign(&meta, uid, name)?;
    set_owner_mode(&file, uid, gid, mode)
}

/// Replaces `name` in `dir` with `content` atomically: temp file created with O_EXCL in the
/// same directory, owner and mode set on its fd, fsync, rename over, fsync the directory.
pub fn replace_at(
    dir: impl AsFd,
    name: &OsStr,
    content: &[u8],
    uid: u32,
    gid: u32,
    mode: u32,
) -> io::Result<()> {
    let dir = dir.as_fd();
    // An unpredictable name, retried on collision: the user owns this directory and
    // could otherwise plant the names in advance to make every run fail.
    let mut attempt = 0u32;
    let (temp_name, fd) = loop {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mut candidate = b".".to_vec();
        candidate.extend_from_slice(name.as_bytes());
        candidate.extend_from_slice(
            format!(
                ".bastion-wizard.{}.{nanos:08x}{attempt}",
                std::process::id()
            )
            .as_bytes(),
        );
        let create =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        match openat(
            dir,
            candidate.as_slice(),
            create,
            Mode::from_bits_truncate(0o600),
        ) {
            Ok(fd) => break (candidate, fd),
            Err(Errno::EEXIST) if attempt < 16 => attempt += 1,
            Err(e) => return Err(refuse(e, name)),
        }
    };
    let temp_name = OsStr::from_bytes(&temp_name);
    let written = (|| {
        set_owner_mode(&fd, uid, gid, mode)?;
        let mut file = File::from(fd);
        file.write_all(content)?;
        file.sync_all()?;
        renameat(dir, temp_name, dir, name)?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = unlinkat(dir, temp_name, UnlinkatFlags::NoRemoveDir);
        return Err(e);
    }
    sync_dir(dir)
}

pub fn sync_dir(dir: impl AsFd) -> io::Result<()> {
    nix::unistd::fsync(dir)?;
    Ok(())
}

fn refuse(errno: Errno, name: &OsStr) -> io::Error {
    match errno {
        Errno::ELOOP => unsafe_file(name, "is a symbolic link"),
        Errno::ENOTDIR => unsafe_file(name, "is not a directory"),
        e => io::Error::new(
            io::Error::from(e).kind(),
            format!("{}: {}", name.to_string_lossy(), e.desc()),
        ),
    }
}

fn unsafe_file(name: &OsStr, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("refusing {}: it {why}", name.to_string_lossy()),
    )
}

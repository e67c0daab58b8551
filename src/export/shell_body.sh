PATH=/usr/sbin:/usr/bin:/sbin:/bin
LC_ALL=C
export PATH LC_ALL
umask 022

say() { printf '%s\n' "$*"; }
die() { printf 'bastion-wizard export: %s\n' "$*" >&2; exit 1; }
field() { printf '%s\n' "$1" | cut -d: -f"$2"; }
# The uid owning a path; "" for a path that is not there.
owner_of() { stat -c %u -- "$1"; }
# A living account other than the tunnel user owning the path: refuse, as apply does.
not_foreign() {
  o=$(owner_of "$1")
  if [ "$o" != 0 ] && [ "$o" != "$uid" ] && getent passwd "$o" >/dev/null; then
    die "$1 belongs to the account $(getent passwd "$o" | cut -d: -f1): refusing to take over another account's file"
  fi
}
no_link() { if [ -L "$1" ]; then die "$1 is a symbolic link: refusing to follow it; remove it, then rerun"; fi; }
# Inside ~/.ssh, once it is the user's, work as the user: the user may swap any name there
# for a link between a check and a write, and as the user such a link leads nowhere the
# user could not write anyway (as root it would lead anywhere).
as_user() { setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"; }

[ "$(id -u)" = 0 ] || die "run as root"
login_def() { awk -v k="$1" '$1 == k { print $2 }' /etc/login.defs 2>/dev/null | tail -n 1; }
uid_min=$(login_def UID_MIN); uid_min=${uid_min:-1000}
gid_min=$(login_def GID_MIN); gid_min=${gid_min:-1000}

# Guide step 1: the group.
if ! getent group "$group" >/dev/null; then
  groupadd "$group"
  say "created group $group"
fi
gid=$(field "$(getent group "$group")" 3)
if [ "$gid" = 65534 ] || [ "$gid" -lt "$gid_min" ]; then
  die "$group (gid $gid) is a system group and would give the vendor its rights: choose a dedicated group"
fi

# Guide step 2: the user, its password field `*` (no password ever works, keys do, whatever UsePAM says).
if ! getent passwd "$user" >/dev/null; then
  if [ -n "$nologin" ]; then
    useradd -m -g "$group" -s "$nologin" -p '*' "$user"
  else
    useradd -m -g "$group" -p '*' "$user"
  fi
  say "created user $user"
fi
entry=$(getent passwd "$user")
uid=$(field "$entry" 3)
ugid=$(field "$entry" 4)
home=$(field "$entry" 6)
shell=$(field "$entry" 7)
if [ "$uid" = 0 ] || [ "$uid" = 65534 ] || [ "$uid" -lt "$uid_min" ]; then
  die "$user (uid $uid) is a system account: choose a dedicated account"
fi
[ "$ugid" = "$gid" ] || die "user $user already exists with another primary group (gid $ugid), not $group"
if grep -q "^$user:" /etc/shadow; then
  case "$(grep "^$user:" /etc/shadow | cut -d: -f2)" in
    '' | '!'*) usermod -p '*' "$user"; say "set the password field of $user to *" ;;
  esac
fi
case "$shell" in */nologin | */false) closed=1 ;; *) closed=0 ;; esac
if [ -n "$nologin" ]; then
  if [ ! -x "$shell" ] || [ "$closed" = 0 ]; then usermod -s "$nologin" "$user"; say "set the shell of $user to $nologin"; fi
elif [ ! -x "$shell" ] || [ "$closed" = 1 ]; then
  usermod -s /bin/sh "$user"; say "set the shell of $user to /bin/sh"
fi

# The home: owned by the user (or root), not writable by group or other (sshd's StrictModes).
case "$home" in /?*) ;; *) die "the home of $user is not an absolute path: $home" ;; esac
no_link "$home"
if [ ! -e "$home" ]; then
  mkdir -m 750 -- "$home"
  chown -h "$uid:$gid" -- "$home"
  say "created $home"
fi
[ -d "$home" ] || die "$home is not a directory: move it away, then rerun"
not_foreign "$home"
o=$(owner_of "$home")
if [ "$o" != "$uid" ] && [ "$o" != 0 ]; then chown -h "$uid:$gid" -- "$home"; say "gave $home to $user"; fi
if [ $((0$(stat -c %a -- "$home") & 022)) != 0 ]; then chmod go-w -- "$home"; say "removed group/other write from $home"; fi

# Guide steps 4-5: ~/.ssh 0700, the user's.
ssh_dir="$home/.ssh"
no_link "$ssh_dir"
if [ ! -e "$ssh_dir" ]; then mkdir -m 700 -- "$ssh_dir"; say "created $ssh_dir"; fi
no_link "$ssh_dir"
[ -d "$ssh_dir" ] || die "$ssh_dir is not a directory: refusing to touch it; remove it, then rerun"
not_foreign "$ssh_dir"
if [ "$(stat -c %u:%g -- "$ssh_dir")" != "$uid:$gid" ]; then chown -h "$uid:$gid" -- "$ssh_dir"; say "gave $ssh_dir to $user"; fi
if [ "$(stat -c %a -- "$ssh_dir")" != 700 ]; then as_user chmod 700 -- "$ssh_dir"; say "set $ssh_dir to 0700"; fi

# Guide steps 7-8: authorized_keys 0600, the user's, one regular file with one link.
keys="$ssh_dir/authorized_keys"
no_link "$keys"
if [ ! -e "$keys" ]; then (set -C; : >"$keys"); say "created $keys"; fi
no_link "$keys"
[ -f "$keys" ] || die "$keys is not a regular file: refusing to touch it; remove it, then rerun"
[ "$(stat -c %h -- "$keys")" = 1 ] || die "$keys has more than one hard link (it may be another file in disguise): refusing; remove it, then rerun"
not_foreign "$keys"
if [ "$(stat -c %u:%g -- "$keys")" != "$uid:$gid" ]; then chown -h "$uid:$gid" -- "$keys"; say "gave $keys to $user"; fi
if [ "$(stat -c %a -- "$keys")" != 600 ]; then as_user chmod 600 -- "$keys"; say "set $keys to 0600"; fi

# Guide step 9: the key line, once. The first line holding the key (not a cert-authority
# entry, nor a comment: sshd skips `#` lines) becomes this line in place, later ones go,
# every other line stays byte for byte.
merge='
  {
    body = $0; cr = ""
    if (sub(/\r$/, "", body)) cr = "\r"
    t = body; sub(/^[ \t]+/, "", t)
    if (t ~ /^#/) { print; next }
    n = split(t, w, /[ \t]+/); hit = 0
    for (i = 1; i <= n; i++) if (w[i] == ENVIRON["K"]) hit = 1
    if (hit && tolower(w[1]) ~ /(^|,)cert-authority(,|$)/) hit = 0
    if (!hit) { print; next }
    if (done++) next
    if (body == ENVIRON["L"]) print; else print ENVIRON["L"] cr
  }
  END { if (!done) print ENVIRON["L"] }
'
changed=$(K="$key_data" L="$key_line" M="$merge" as_user sh -eu -c '
  new=$(mktemp "$1/.authorized_keys.XXXXXX")
  trap '\''rm -f -- "$new"'\'' EXIT
  awk "$M" "$2" >"$new"
  if ! cmp -s -- "$new" "$2"; then chmod 600 -- "$new"; mv -f -- "$new" "$2"; echo changed; fi
' sh "$ssh_dir" "$keys")
if [ -n "$changed" ]; then say "installed the key line in $keys"; fi

# The sshd block (--fix-sshd): written whole, judged by `sshd -t` with it in place,
# restored byte for byte if sshd rejects it, then sshd reloaded (never restarted).
if [ -n "$dropin" ]; then
  dir=${dropin%/*}
  grep -Eiq '^[[:space:]]*Include[[:space:]]+(/etc/ssh/)?sshd_config\.d/\*\.conf' /etc/ssh/sshd_config ||
    die "/etc/ssh/sshd_config does not include $dir: run bastion-wizard apply --fix-sshd on this host instead"
  no_link "$dir"
  [ -d "$dir" ] || die "$dir is not a directory"
  no_link "$dropin"
  tmp=$(mktemp "$dir/.bastion-wizard.XXXXXX")
  trap 'rm -f -- "$tmp" "$tmp.old"' EXIT
  printf '%s' "$dropin_content" >"$tmp"
  if [ -e "$dropin" ] && cmp -s -- "$tmp" "$dropin"; then
    rm -f -- "$tmp"
  else
    had=0
    if [ -e "$dropin" ]; then
      [ -f "$dropin" ] || die "$dropin is not a regular file"
      cp -p -- "$dropin" "$tmp.old"
      had=1
    fi
    chmod 644 -- "$tmp"
    mv -f -- "$tmp" "$dropin"
    if ! err=$(sshd -t 2>&1); then
      if [ "$had" = 1 ]; then mv -f -- "$tmp.old" "$dropin"; else rm -f -- "$dropin"; fi
      die "sshd -t rejects the configuration with $dropin ($err): it was restored; nothing was reloaded"
    fi
    rm -f -- "$tmp.old"
    if [ -d /run/systemd/system ]; then
      systemctl reload ssh 2>/dev/null || systemctl reload sshd
    else
      pidfile=$(sshd -T 2>/dev/null | awk '$1 == "pidfile" { print $2 }')
      kill -HUP "$(cat "${pidfile:-/run/sshd.pid}")"
    fi
    say "wrote $dropin and reloaded sshd"
  fi
  trap - EXIT
fi
say "done: $user can open the vendor's tunnel with its key"

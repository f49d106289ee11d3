# A pids file that names processes by identity, not by number. Source it; do not run it.
#
#   pidfile_add FILE PID          appends "PID STARTTIME" (the process's start time in clock ticks
#                                 since boot, field 22 of /proc/PID/stat)
#   pidfile_signal FILE SIGNAL    signals each listed process that is still the one recorded: same
#                                 PID and same start time. A PID that now belongs to another process
#                                 (reused after ours exited, or a line without a start time) is
#                                 skipped with a message, never signalled.
#
# A PID alone is not an identity: `./scripts/demo --keep-running` leaves its pids file behind, the
# processes may exit long before the next run, and the kernel reuses their PIDs.

# _pid_start_time PID: prints the start time of PID, or nothing if there is no such (live) process.
_pid_start_time() {
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${stat##*) }  # the command name may hold spaces and parentheses; fields resume after the last ") "
  # shellcheck disable=SC2086
  set -- $rest
  case $1 in Z|X) return 1 ;; esac  # a zombie is no longer ours to signal
  echo "${20}"
}

pidfile_add() {
  local file=$1 pid=$2 start
  start=$(_pid_start_time "$pid") || { echo "pidfile_add: no process $pid" >&2; return 1; }
  echo "$pid $start" >> "$file"
}

pidfile_signal() {
  local file=$1 signal=$2 pid recorded current
  [ -f "$file" ] || return 0
  while read -r pid recorded _; do
    [[ $pid =~ ^[0-9]+$ ]] || continue
    if ! [[ ${recorded:-} =~ ^[0-9]+$ ]]; then
      echo "not signalling pid $pid: $file records no start time for it" >&2
      continue
    fi
    current=$(_pid_start_time "$pid") || continue  # gone
    if [ "$current" != "$recorded" ]; then
      echo "not signalling pid $pid: it started at tick $current, not $recorded (a reused PID)" >&2
      continue
    fi
    kill "-$signal" "$pid" 2>/dev/null || true
  done < "$file"
}

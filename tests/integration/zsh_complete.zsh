#!/usr/bin/zsh -f
# Completes command lines in a real interactive zsh (in a pseudo-terminal, through zpty) with the
# project's completion functions, and prints what each TAB offered.
#
# usage: zsh_complete.zsh COMPLETIONS-DIR TOOLS-DIR LINE...
# For each LINE (the text before the cursor), prints "== LINE" and then every candidate the
# completion system matched against the word under the cursor, one a line, sorted.
#
# Every compadd call the completion functions make is recorded (a function named compadd runs
# before the builtin of that name): `compadd -O` gives the candidates that match what is typed,
# and the real compadd then does its work as usual.
emulate -L zsh
zmodload zsh/zpty || exit 90
local compdir=$1 bindir=$2
shift 2
local tmp=$(mktemp -d) || exit 91
trap 'zpty -d tbz 2>/dev/null; rm -rf $tmp' EXIT
local out=$tmp/offered
zpty tbz env -i HOME=$tmp TERM=vt100 PATH=$bindir:/usr/bin:/bin LC_ALL=C.UTF-8 zsh -f -i || exit 92
# Set-up: no prompt, no listing on TAB (AUTO_LIST would print, and could ask), the completion
# system from the project's folder only for our tools, compadd recorded.
zpty -w tbz "PS1= PS2= RPS1=; unsetopt AUTO_LIST AUTO_MENU LIST_BEEP BEEP; fpath=($compdir \$fpath)"
zpty -w tbz "autoload -Uz compinit && compinit -u -d $tmp/zcompdump"
zpty -w tbz "compadd() { local -a tb_hits; builtin compadd -O tb_hits \"\$@\"; (( \$#tb_hits )) && print -rl -- \$tb_hits >> $out; builtin compadd \"\$@\"; }"
# Waits for a marker printed by the shell itself: the typed text shows tb_''ready, the output tb_ready.
local reply
zpty -w tbz "print tb_''ready"
zpty -r tbz reply '*tb_ready*' || exit 93
local line n=0
for line in "$@"; do
    n=$((n + 1))
    : >$out
    zpty -w -n tbz "$line"$'\t'
    # Ctrl-U drops the completed line; then a marker, printed once the completion has finished.
    zpty -w tbz $'\x15'"print tb_''done_$n"
    zpty -r tbz reply "*tb_done_$n*" || exit 94
    print -r -- "== $line"
    sort -u $out
done

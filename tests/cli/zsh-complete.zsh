#!/usr/bin/zsh -f
# zsh-complete.zsh FPATH_DIR LINE...: for each LINE, prints "== N" (N from 1) and then the matches zsh's
# completion offers for it (the cursor at its end), one a line. One interactive zsh in a pseudo-terminal
# (zpty) loads the completion functions with FPATH_DIR first, with compadd wrapped to print what is
# added and a post-function that marks the end of each completion; each line is typed, TAB pressed,
# then the line is killed for the next one. The caller bounds the time.
zmodload zsh/zpty || exit 1
fdir=$1
shift
zpty z zsh -f -i
zpty -w z "PS1='' PROMPT='' RPROMPT=''"
zpty -w z "fpath=(${(q)fdir} \$fpath)"
zpty -w z 'autoload -Uz compinit && compinit -u -D'
zpty -w z 'compadd () {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
  typeset -a __hits; builtin compadd -A __hits "$@"; local ret=$?
  local __h; for __h in $__hits; do print -r -- "<<MA""TCH:$__h>>"; done
  return $ret
}'
zpty -w z '__zcomp_done() { print -r -- "<<DO""NE>>" }'
zpty -w z "zstyle ':completion:*' list-prompt ''"
zpty -w z 'bindkey "^I" complete-word; bindkey "^U" kill-whole-line'
integer n=0
for line in "$@"; do
  (( n++ ))
  # comppostfuncs is emptied after each completion: set again each time.
  zpty -w z 'comppostfuncs=(__zcomp_done)'
  zpty -w -n z "$line"$'\t'
  zpty -r z out '*<<DONE>>*'
  zpty -w -n z $'\C-u'
  print -r -- "== $n"
  print -r -- "$out" | grep -ao '<<MATCH:[^>]*>>' | sed 's/^<<MATCH://; s/>>$//' | sort -u
done
zpty -d z

# bash completion for ferry: subcommands, their flags, files for send, and code words for
# receive ("7-tum<TAB>" -> "7-tumbler-", and "7 tum<TAB>" -> "7 tumbler").
_ferry() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  if ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W "send receive serve doctor version help --version --help" -- "$cur"))
    return
  fi
  local opts
  case ${COMP_WORDS[1]} in
    send)
      opts="--server --ca-file --code --text --name --qr --receivers --many --expire --direct --lan --force-relay --wormhole --mailbox --transit-helper --json --help"
      case $prev in
        --server | --code | --text | --name | --receivers | --expire | --mailbox | --transit-helper) return ;;
      esac
      if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
      else
        COMPREPLY=($(compgen -f -- "$cur"))
        compopt -o filenames 2>/dev/null
      fi
      ;;
    receive)
      opts="--server --ca-file --output -o --yes -y --overwrite --rename --wait --lan --force-relay --wormhole --mailbox --transit-helper --json --help"
      case $prev in
        --output | -o)
          COMPREPLY=($(compgen -d -- "$cur"))
          compopt -o filenames 2>/dev/null
          return
          ;;
        --server | --wait | --mailbox | --transit-helper) return ;;
      esac
      if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
      elif [[ $cur == [1-9]*-* ]]; then
        # The words of a code: complete the last one from ferry's list.
        local head=${cur%-*}- tail=${cur##*-}
        COMPREPLY=($(compgen -P "$head" -W "$(ferry code-words 2>/dev/null)" -- "$tail"))
        # After the first word comes a dash and the second.
        if ((${#COMPREPLY[@]} == 1)) && [[ $head != *-*- ]]; then
          COMPREPLY[0]+=-
          compopt -o nospace 2>/dev/null
        fi
      elif [[ $prev =~ ^[1-9][0-9]*$ || ($prev =~ ^[a-z]+$ && ${COMP_WORDS[COMP_CWORD-2]} =~ ^[1-9][0-9]*$) ]]; then
        # A code typed with spaces ("7 tumbler oxcart"): the words after the number.
        COMPREPLY=($(compgen -W "$(ferry code-words 2>/dev/null)" -- "$cur"))
      fi
      ;;
    serve)
      opts=$(ferry serve --help 2>/dev/null | grep -o -- '--[a-z-]*' | sort -u)
      COMPREPLY=($(compgen -W "$opts" -- "$cur"))
      ;;
    doctor)
      COMPREPLY=($(compgen -W "--server --ca-file --stun --json --help" -- "$cur"))
      ;;
  esac
}
complete -F _ferry ferry

# fish completion for ferry: subcommands, flags, files for send, code words for receive.
set -l subcommands send receive serve doctor version
complete -c ferry -f
complete -c ferry -n "not __fish_seen_subcommand_from $subcommands" -a send -d 'send files, folders, text or stdin'
complete -c ferry -n "not __fish_seen_subcommand_from $subcommands" -a receive -d 'receive with a code or a link'
complete -c ferry -n "not __fish_seen_subcommand_from $subcommands" -a serve -d 'run the server'
complete -c ferry -n "not __fish_seen_subcommand_from $subcommands" -a doctor -d 'check what this network allows'
complete -c ferry -n "not __fish_seen_subcommand_from $subcommands" -a version -d 'print the version'

complete -c ferry -n '__fish_seen_subcommand_from send receive doctor' -l server -r -d 'the server URL'
complete -c ferry -n '__fish_seen_subcommand_from send receive doctor' -l ca-file -r -F -d 'a CA to trust'
complete -c ferry -n '__fish_seen_subcommand_from send receive' -l json -d 'JSON events'
complete -c ferry -n '__fish_seen_subcommand_from send receive' -l force-relay -d 'relay only'
complete -c ferry -n '__fish_seen_subcommand_from send receive' -l lan -d 'no server: this network only'
complete -c ferry -n '__fish_seen_subcommand_from send receive' -l wormhole -d 'magic-wormhole'
complete -c ferry -n '__fish_seen_subcommand_from send receive' -l mailbox -r -d 'wormhole mailbox URL'
complete -c ferry -n '__fish_seen_subcommand_from send receive' -l transit-helper -r -d 'wormhole transit relay'
complete -c ferry -n '__fish_seen_subcommand_from send' -F
complete -c ferry -n '__fish_seen_subcommand_from send' -l code -r -d 'use this code'
complete -c ferry -n '__fish_seen_subcommand_from send' -l text -r -d 'send a text message'
complete -c ferry -n '__fish_seen_subcommand_from send' -l name -r -d 'file name for stdin'
complete -c ferry -n '__fish_seen_subcommand_from send' -l qr -d 'print the link as a QR code'
complete -c ferry -n '__fish_seen_subcommand_from send' -l receivers -x -d 'let this many people receive'
complete -c ferry -n '__fish_seen_subcommand_from send' -l many -d 'let any number of people receive'
complete -c ferry -n '__fish_seen_subcommand_from send' -l expire -x -d 'no new receivers after (90s, 10m, 2h)'
complete -c ferry -n '__fish_seen_subcommand_from send' -l direct -d 'no server: addresses in the code'
complete -c ferry -n '__fish_seen_subcommand_from receive' -s o -l output -r -a '(__fish_complete_directories)' -d 'folder, or - for stdout'
complete -c ferry -n '__fish_seen_subcommand_from receive' -s y -l yes -d 'accept without asking'
complete -c ferry -n '__fish_seen_subcommand_from receive' -l overwrite -d 'replace existing files'
complete -c ferry -n '__fish_seen_subcommand_from receive' -l rename -d 'keep existing files'
complete -c ferry -n '__fish_seen_subcommand_from receive' -l wait -r -d 'seconds to wait for the sender'

# Code words: "7-tum" completes to "7-tumbler".
function __ferry_code_words
  set -l cur (commandline -ct)
  if string match -qr '^[1-9][0-9]*-' -- $cur
    set -l head (string replace -r '[^-]*$' '' -- $cur)
    for w in (ferry code-words 2>/dev/null)
      echo $head$w
    end
  end
end
complete -c ferry -n '__fish_seen_subcommand_from receive' -a '(__ferry_code_words)'

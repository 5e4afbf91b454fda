#!/bin/sh
# A script that holds a pylockerd lock across several commands. 'pylockctl acquire' waits until the lock
# is granted, leaves a holder process in the background that keeps it (pylockerd releases the locks of
# a client that disconnects, so someone must stay connected), and prints the lock id; 'pylockctl
# release' makes the holder let go. Should the script die before that, the holder sees its process end
# and releases the lock itself.
set -eu

lock=$(pylockctl acquire --timeout 60 /srv/backup)
echo "step 1 under lock $lock"
echo "step 2 under lock $lock"
# 76: the lock was lost on the way (it expired, was force-released, or pylockerd went away).
pylockctl release "$lock"

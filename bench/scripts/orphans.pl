#!/usr/bin/perl
# Reaping payload: makes COUNT orphans (each child forks a grandchild running `sleep SECONDS`
# and exits at once, so the grandchild is re-parented to PID 1), writes READY, then idles.
use strict;
use warnings;
use POSIX ();
my ($ready, $count, $seconds) = @ARGV;
for (1 .. $count) {
    my $child = fork();
    die "fork: $!\n" unless defined $child;
    if ($child == 0) {
        my $grandchild = fork();
        exec('/bin/sleep', $seconds) if defined $grandchild && $grandchild == 0;
        POSIX::_exit(0);
    }
    waitpid($child, 0);
}
open(my $fh, '>', $ready) or die "cannot create $ready: $!";
close($fh);
select(undef, undef, undef, undef) while 1;

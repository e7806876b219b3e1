#!/usr/bin/perl
# Log payload for the bench: writes its pid to READY, waits until the bench creates GO, writes
# LINES numbered 100-byte lines to stdout as fast as it can, creates DONE, then idles so the
# supervisor never restarts it.
use strict;
use warnings;
my ($ready, $go, $done, $lines) = @ARGV;
open(my $fh, '>', "$ready.tmp") or die "cannot create $ready: $!";
print $fh "$$\n";
close($fh);
rename("$ready.tmp", $ready) or die "cannot rename to $ready: $!";
for (my $i = 0; !-e $go; $i++) {
    die "no go file after 120 s\n" if $i > 24000;
    select(undef, undef, undef, 0.005);
}
my $pad = 'x' x 90;
my $buf = '';
for my $n (1 .. $lines) {
    $buf .= sprintf("%09d %s\n", $n, $pad);
    if (length($buf) >= 65536 || $n == $lines) {
        my $off = 0;
        while ($off < length($buf)) {
            my $w = syswrite(STDOUT, $buf, length($buf) - $off, $off);
            die "write failed: $!\n" unless defined $w;
            $off += $w;
        }
        $buf = '';
    }
}
open(my $dh, '>', $done) or die "cannot create $done: $!";
close($dh);
select(undef, undef, undef, undef) while 1;

#!/usr/bin/perl
# Log payload for the bench: builds LINES numbered lines of WIDTH bytes (`<9-digit seq> x…x\n`)
# in memory first, so producing them costs nothing while the clock runs; writes its pid to READY,
# waits until the bench creates GO, writes the payload to stdout in 64 KiB syscalls as fast as the
# pipe takes it, creates DONE, then idles so the supervisor never restarts it.
use strict;
use warnings;
my ($ready, $go, $done, $lines, $width) = @ARGV;
$width ||= 100;
my $pad = 'x' x ($width - 11);
my $payload = '';
$payload .= sprintf("%09d %s\n", $_, $pad) for 1 .. $lines;
open(my $fh, '>', "$ready.tmp") or die "cannot create $ready: $!";
print $fh "$$\n";
close($fh);
rename("$ready.tmp", $ready) or die "cannot rename to $ready: $!";
for (my $i = 0; !-e $go; $i++) {
    die "no go file after 120 s\n" if $i > 24000;
    select(undef, undef, undef, 0.005);
}
my $off = 0;
my $total = length($payload);
while ($off < $total) {
    my $n = $total - $off < 65536 ? $total - $off : 65536;
    my $w = syswrite(STDOUT, $payload, $n, $off);
    die "write failed: $!\n" unless defined $w;
    $off += $w;
}
open(my $dh, '>', $done) or die "cannot create $done: $!";
close($dh);
select(undef, undef, undef, undef) while 1;

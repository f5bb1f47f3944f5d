#!/usr/bin/perl
# tests/lib/listen.pl OUTFILE SECONDS CHANNEL... - LISTEN on the catalog
# database (libpq's environment: PGHOST, PGPORT, PGUSER) and append each
# notification received as "channel|payload" to OUTFILE, for SECONDS.
# Writes "ready" first, once every LISTEN is in place.
use strict;
use warnings;
use DBI;
use IO::Handle;

my ($out, $secs, @channels) = @ARGV;
my $dbh = DBI->connect('dbi:Pg:dbname=bucardo', '', '', {AutoCommit => 1, RaiseError => 1, PrintError => 0});
$dbh->do(qq{LISTEN "$_"}) for @channels;
open my $fh, '>>', $out or die "$out: $!";
$fh->autoflush(1);
print $fh "ready\n";
my $end = time + $secs;
while (time < $end) {
    while (my $n = $dbh->pg_notifies) {
        print $fh "$n->[0]|$n->[2]\n";
    }
    select(undef, undef, undef, 0.05);
}

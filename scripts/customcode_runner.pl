#!/usr/bin/perl
# scripts/customcode_runner.pl - runs an unchanged Bucardo 5 Perl customcode
# as a command customcode of this engine (README.md, "Customcode").
#
# The engine starts it (`perl customcode_runner.pl`) with one JSON request
# on stdin: the hook's information, the customcode's Perl text (src_code)
# and, when getdbh is set, the members' connection settings (dbinfo,
# without passwords: they come from .pgpass or service files).  It builds
# Bucardo's $info hash from it - syncname, version, sourcename, targetname,
# message, warning, error, skip, lastcode, endsync, sendmail, shared (what
# the engine kept of the sync's last call: returned, and kept for the
# next - Bucardo keeps it in the sync's process); for
# conflict codes schemaname, tablename and conflicts ({key => {db => 1}});
# for exception codes schemaname, tablename, error_string, deltabin
# ({db => {key => 1}}) and attempts; with getdbh a DBI handle per database
# under dbh (AutoCommit off: committed when the code returns, rolled back
# when it dies) - compiles the code the way Bucardo does (the body of a sub
# in package Bucardo::CustomCode), runs it, and answers on stdout what the
# code set: message, warning, error, lastcode, nextcode, skip, endsync,
# retry, the decided conflicts and any tablewinner/syncwinner.  A multi-
# column key is its values joined by "\0", as in Bucardo.
#
# Needs perl (JSON::PP is core) and, for getdbh, libdbd-pg-perl.  Whatever
# the code prints goes to stderr, which the engine logs.
use strict;
use warnings;
use JSON::PP ();

# allow_blessed/allow_unknown: a DBI handle or a sub the code left in
# shared is answered as null, not a failure.
my $json = JSON::PP->new->canonical->allow_nonref->allow_blessed->allow_unknown;

# The answer goes to the real stdout; the code's own prints to stderr.
open my $answer_fh, '>&', \*STDOUT or die "cannot dup stdout: $!\n";
open STDOUT, '>&', \*STDERR or die "cannot redirect stdout: $!\n";

sub answer {
    my ($h) = @_;
    print {$answer_fh} $json->encode($h), "\n";
    close $answer_fh;
    exit 0;
}

# `customcode_runner.pl --check`: the Perl code on stdin is compiled the
# way it is run (below), not run; exit 1 with the compiler's message on
# stderr when it does not compile (`bucardo add customcode` uses it).
if (@ARGV and $ARGV[0] eq '--check') {
    my $text = do { local $/; <STDIN> };
    local $@;
    my $sub = eval qq{package Bucardo::CustomCode;\nsub { $text\n}};    ## no critic (ProhibitStringyEval)
    exit 0 if $sub;
    my $why = $@;
    $why =~ s/\s+\z//;
    $why =~ s/\n/; /g;
    print STDERR "$why\n";
    exit 1;
}

my $input = do { local $/; <STDIN> };
my $req = eval { $json->decode($input) };
if (!$req or ref $req ne 'HASH') {
    print STDERR "customcode_runner: the request is not a JSON object\n";
    exit 2;
}
my $src = delete $req->{src_code};
if (!defined $src) {
    print STDERR "customcode_runner: the request has no src_code\n";
    exit 2;
}

# Keys in the engine's text (COPY text, tab-separated) <-> Bucardo's ("\0").
sub bkey { my $k = shift; $k =~ s/\t/\0/g; return $k }

my $dbinfo = delete $req->{dbinfo} || {};
my $getdbh = delete $req->{getdbh};
my $shared = delete $req->{shared};
my $whenrun = $req->{whenrun} || '';
my %keytext;    # Bucardo key -> engine key text

my $info = {
    %$req,
    message  => '',
    warning  => '',
    error    => '',
    skip     => '',
    lastcode => '',
    endsync  => '',
    sendmail => sub { print STDERR 'sendmail (not sent by the runner): ', join(' ', @_), "\n" },
    shared   => ref $shared eq 'HASH' ? $shared : {},
};

if ($whenrun eq 'conflict') {
    my %conflicts;
    for my $c (@{ $req->{conflicts} || [] }) {
        my $k = bkey($c->{keytext});
        $keytext{$k} = $c->{keytext};
        $conflicts{$k} = { map { $_ => 1 } @{ $c->{sources} } };
    }
    $info->{conflictrows} = { map { bkey($_->{keytext}) => $_->{rows} } @{ $req->{conflicts} || [] } };
    $info->{conflicts} = \%conflicts;
}
if ($whenrun eq 'exception') {
    my %deltabin;
    my @cols = @{ $req->{keycols} || [] };
    for my $db (keys %{ $req->{keys} || {} }) {
        for my $key (@{ $req->{keys}{$db} }) {
            my $k = join "\0", map { defined $key->{$_} ? $key->{$_} : '' } @cols;
            $deltabin{$db}{$k} = 1;
        }
    }
    $info->{deltabin} = \%deltabin;
}

my @handles;
if ($getdbh) {
    require DBI;
    for my $name (sort keys %$dbinfo) {
        my $d = $dbinfo->{$name};
        my @dsn;
        push @dsn, "service=$d->{service}" if defined $d->{service} and length $d->{service};
        push @dsn, "dbname=$d->{dbname}"   if defined $d->{dbname}  and length $d->{dbname};
        push @dsn, "host=$d->{host}"       if defined $d->{host}    and length $d->{host};
        push @dsn, "port=$d->{port}"       if defined $d->{port}    and length $d->{port};
        my $dbh = DBI->connect('dbi:Pg:' . join(';', @dsn), $d->{user}, undef,
                               { AutoCommit => 0, RaiseError => 1, PrintError => 0 });
        if (!$dbh) {
            answer({ error => "cannot connect to database $name: " . DBI->errstr . "" });
        }
        $info->{dbh}{$name} = $dbh;
        push @handles, $dbh;
    }
}

my $code = do {
    local $@;
    my $sub = eval qq{package Bucardo::CustomCode;\nsub { $src\n}};    ## no critic (ProhibitStringyEval)
    answer({ error => "the Perl code does not compile: $@" }) if !$sub;
    $sub;
};

my $ok = eval {
    local $_ = $info;
    $code->($info);
    1;
};
if (!$ok) {
    my $why = $@ || 'unknown error';
    chomp $why;
    eval { $_->rollback } for @handles;
    answer({ error => "the Perl code died: $why" });
}
eval { $_->commit; 1 } or answer({ error => "commit of the code's database changes failed: $@" }) for @handles;
eval { $_->disconnect } for @handles;

my %out;
for my $k (qw/message warning error lastcode nextcode skip endsync retry
              tablewinner tablewinner_always syncwinner syncwinner_always/) {
    $out{$k} = $info->{$k} if defined $info->{$k} and !ref $info->{$k} and length $info->{$k};
}
$out{shared} = $info->{shared} if ref $info->{shared} eq 'HASH';
if ($whenrun eq 'conflict') {
    my %winners;
    for my $k (keys %{ $info->{conflicts} || {} }) {
        my $v = $info->{conflicts}{$k};
        next if ref $v or !defined $v;
        $winners{ exists $keytext{$k} ? $keytext{$k} : $k } = $v;
    }
    $out{conflicts} = \%winners;
}
answer(\%out);

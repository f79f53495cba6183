# t/Invariants.pm: queries the TAP tests share, each counting the rows that
# break one invariant of the stored data (0 when it holds).
package Invariants;

use strict;
use warnings;
use Exporter 'import';

our @EXPORT_OK = qw($EVENTS_OUT_OF_TURN);

# Lines whose Allocated/Deallocated events, in id order, do not alternate
# starting with Allocated: a lost, doubled or reordered update.
our $EVENTS_OUT_OF_TURN = q{
	SELECT count(*)
	FROM (SELECT event,
	             lag(event) OVER (PARTITION BY payload ->> 'orderid', payload ->> 'sku' ORDER BY id) AS previous
	      FROM allocation.events
	      WHERE event IN ('Allocated', 'Deallocated')) AS e
	WHERE event = previous OR (previous IS NULL AND event <> 'Allocated')
};

1;

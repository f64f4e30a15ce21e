/* kf_assign < SCENARIOS: kfork's assignors on stdin's scenarios (see
 * assign_scen.c), for tests/kafka/assignor-diff.sh. */
#include "config.h"

#include "assign_scen.h"

int main(void)
{
	kf_assign_scenarios(stdin, stdout);
	return 0;
}

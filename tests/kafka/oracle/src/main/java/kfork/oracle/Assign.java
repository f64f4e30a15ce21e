/*
 * oracle.sh assign < SCENARIOS: run the Java client's own partition
 * assignors (RangeAssignor, RoundRobinAssignor, CooperativeStickyAssignor
 * of the kafka-clients jar this oracle is built with) on each scenario, as
 * a group leader's ConsumerCoordinator calls them, and print what they
 * assign.  tests/kafka/assignor-diff.sh runs kfork's assignors
 * (tests/kafka/kf_assign) on the same scenarios and compares.
 *
 * Input, a block per scenario (fields split on spaces):
 *
 *   scenario NAME ASSIGNOR
 *   topic NAME PARTITIONS                      one line per topic in the metadata
 *   member ID INSTANCE GEN USERGEN TOPICS OWNED  one line per member, in JoinGroup order
 *   end
 *
 * INSTANCE is the group.instance.id or "-"; GEN the Subscription's
 * GenerationId (-1: none); USERGEN "-" for null UserData, else the
 * generation as a 4-byte UserData (cooperative-sticky's); TOPICS "t1,t2"
 * or "-"; OWNED "t1:0,t1:3,t2:1" or "-".
 *
 * Output, per scenario: "scenario NAME", then "member ID PARTITIONS" per
 * member in input order (PARTITIONS sorted by topic, then partition, as
 * "t:p,t:p", or "-"), or one line "error MESSAGE" when the assignor threw;
 * then "end".
 */
package kfork.oracle;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupSubscription;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

final class Assign {
	private Assign() {
	}

	static int run() throws IOException {
		BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
		PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
		Node node = new Node(0, "localhost", 9092);
		Node[] replicas = { node };
		String name = null, assignor = null;
		List<PartitionInfo> parts = new ArrayList<>();
		List<String> order = new ArrayList<>();
		// The coordinator's own map type: iteration order is part of what
		// the assignors compute.
		Map<String, Subscription> subs = new HashMap<>();
		String line;

		while ((line = in.readLine()) != null) {
			String[] f = line.trim().split(" ");
			switch (f[0]) {
			case "scenario":
				name = f[1];
				assignor = f[2];
				parts.clear();
				order.clear();
				subs = new HashMap<>();
				break;
			case "topic":
				for (int p = 0; p < Integer.parseInt(f[2]); p++)
					parts.add(new PartitionInfo(f[1], p, node, replicas, replicas));
				break;
			case "member": {
				List<String> topics = f[5].equals("-") ? List.of() : Arrays.asList(f[5].split(","));
				List<TopicPartition> owned = new ArrayList<>();
				if (!f[6].equals("-"))
					for (String tp : f[6].split(",")) {
						int colon = tp.lastIndexOf(':');
						owned.add(new TopicPartition(tp.substring(0, colon),
								Integer.parseInt(tp.substring(colon + 1))));
					}
				ByteBuffer user = null;
				if (!f[4].equals("-")) {
					user = ByteBuffer.allocate(4).putInt(Integer.parseInt(f[4]));
					user.flip();
				}
				Subscription s = new Subscription(topics, user, owned, Integer.parseInt(f[3]), Optional.empty());
				s.setGroupInstanceId(f[2].equals("-") ? Optional.empty() : Optional.of(f[2]));
				subs.put(f[1], s);
				order.add(f[1]);
				break;
			}
			case "end":
				out.println("scenario " + name);
				try {
					Cluster cluster = new Cluster("kfork", List.of(node), parts, Set.of(), Set.of());
					Map<String, ConsumerPartitionAssignor.Assignment> got =
						assignor(assignor).assign(cluster, new GroupSubscription(subs)).groupAssignment();
					for (String m : order)
						out.println("member " + m + " " + format(got.get(m)));
				} catch (RuntimeException e) {
					out.println("error " + Oracle.describe(e).replace('\n', ' '));
				}
				out.println("end");
				break;
			default:
				if (!f[0].isEmpty())
					throw new IllegalArgumentException("assign: bad line: " + line);
			}
		}
		out.flush();
		return 0;
	}

	static ConsumerPartitionAssignor assignor(String name) {
		switch (name) {
		case "range": return new RangeAssignor();
		case "roundrobin": return new RoundRobinAssignor();
		case "cooperative-sticky": return new CooperativeStickyAssignor();
		default: throw new IllegalArgumentException("assign: unknown assignor " + name);
		}
	}

	static String format(ConsumerPartitionAssignor.Assignment a) {
		if (a == null || a.partitions().isEmpty())
			return "-";
		List<TopicPartition> l = new ArrayList<>(a.partitions());
		l.sort((x, y) -> x.topic().equals(y.topic()) ? Integer.compare(x.partition(), y.partition())
				: x.topic().compareTo(y.topic()));
		StringBuilder b = new StringBuilder();
		for (TopicPartition tp : l) {
			if (b.length() > 0)
				b.append(',');
			b.append(tp.topic()).append(':').append(tp.partition());
		}
		return b.toString();
	}
}

/*
 * The oracle: Apache Kafka's own Java client, driven from the test scripts,
 * as the reference for what a Kafka broker and a Kafka consumer do.  Tests
 * check kfork against this program, never against kfork itself.
 *
 *   oracle.sh SUBCOMMAND ARGS... --bootstrap HOST:PORT[,...] [--config FILE]
 *
 * Records follow kf_probe's deterministic scheme (tests/integration/kf_probe.c):
 *
 *   value    = "TOPIC/PARTITION/SEQ" padded with '.' to the record size
 *   key      = null, "k<SEQ>" or "k<SEQ mod K>"
 *   header h = "<SEQ>"
 *
 * where SEQ is the offset the record gets.  Producers read the end offsets
 * first, predict every record's offset and check it in the send callback.
 *
 * Exit status: 0 success, 1 a check failed, 2 usage or connection error
 * (with one line on stderr).  See README.md for every subcommand.
 */
package kfork.oracle;

import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ClassicGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TopicListing;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class Oracle {
	/** Bad command line or an error talking to Kafka: exit 2. */
	static final class Usage extends RuntimeException {
		Usage(String m) { super(m); }
	}

	/** A check failed: exit 1. */
	static final class Fail extends RuntimeException {
		Fail(String m) { super(m); }
	}

	static final long WAIT_MS = 30000; /* metadata and marker waits */

	/* Options that take no value; every other --option takes one. */
	static final Set<String> FLAGS = Set.of("--if-not-exists", "--if-exists", "--open", "--commit",
			"--remove", "--earliest", "--until-end");

	final PrintStream out = System.out;
	final List<String> pos = new ArrayList<>();
	final Map<String, List<String>> opts = new HashMap<>();
	final Properties fileProps = new Properties();

	public static void main(String[] argv) {
		int rc;
		try {
			rc = new Oracle().run(argv);
		} catch (Usage e) {
			System.err.println("oracle: " + e.getMessage());
			rc = 2;
		} catch (Fail e) {
			System.err.println("oracle: FAIL: " + e.getMessage());
			rc = 1;
		} catch (Throwable e) {
			System.err.println("oracle: error: " + describe(e));
			rc = 2;
		}
		System.out.flush();
		System.exit(rc);
	}

	/** One line for an exception: the innermost cause that says something. */
	static String describe(Throwable e) {
		while ((e instanceof ExecutionException || e.getMessage() == null) && e.getCause() != null)
			e = e.getCause();
		return e.getClass().getSimpleName() + ": " + e.getMessage();
	}

	int run(String[] argv) throws Exception {
		if (argv.length == 0)
			throw new Usage("usage: oracle SUBCOMMAND ARGS... --bootstrap HOST:PORT [--config FILE]");
		parse(Arrays.copyOfRange(argv, 1, argv.length));
		if (argv[0].equals("warmup"))
			return warmup();
		if (argv[0].equals("assign"))
			return Assign.run();
		if (!opts.containsKey("--bootstrap"))
			throw new Usage(argv[0] + ": --bootstrap HOST:PORT is required");
		for (String f : list("--config"))
			try (InputStream in = new FileInputStream(f)) {
				fileProps.load(in);
			}
		switch (argv[0]) {
		case "create-topic": return createTopic();
		case "delete-topic": return deleteTopic();
		case "topic-id": return topicId();
		case "produce": return produce(false);
		case "produce-null": return produce(true);
		case "txn": return txn();
		case "txn-mix": return txnMix();
		case "end-offsets": return endOffsets();
		case "committed": return committed();
		case "group": return group();
		case "wait-empty": return waitEmpty();
		case "quota": return quota();
		case "consume": return consume();
		case "wait-committed": return waitCommitted();
		case "bench-consume": return benchConsume();
		default: throw new Usage("unknown subcommand " + argv[0]);
		}
	}

	/** Makes each kind of client once, talking to no one, so that oracle.sh
	 * can record the classes they load in a class data sharing archive:
	 * that halves the JVM start of every later run. */
	int warmup() throws Exception {
		opts.put("--bootstrap", List.of("127.0.0.1:1"));
		Admin.create(props(Map.of())).close(Duration.ZERO);
		producer(Map.of()).close(Duration.ZERO);
		new KafkaConsumer<>(props(Map.of("group.id", "warmup", "key.deserializer", ByteArrayDeserializer.class.getName(),
				"value.deserializer", ByteArrayDeserializer.class.getName()))).close(Duration.ZERO);
		new Scheme("warmup", 100, "seq").record(0, 0);
		return 0;
	}

	/* ---- command line ---- */

	void parse(String[] a) {
		for (int i = 0; i < a.length; i++) {
			String s = a[i];
			if (!s.startsWith("--") || s.length() == 2) {
				pos.add(s);
				continue;
			}
			String v = "";
			if (!FLAGS.contains(s)) {
				if (i + 1 >= a.length)
					throw new Usage(s + " needs a value");
				v = a[++i];
			}
			/* --config k=v is a topic setting (create-topic), --config FILE
			 * a file of client settings. */
			if (s.equals("--config") && v.contains("=") && !new java.io.File(v).exists())
				s = "--topic-config";
			opts.computeIfAbsent(s, k -> new ArrayList<>()).add(v);
		}
	}

	/** Declares the options a subcommand takes and how many positional arguments. */
	void allow(int npos, String... names) {
		if (pos.size() != npos)
			throw new Usage("expected " + npos + " argument(s) besides the options, got " + pos);
		Set<String> ok = new HashSet<>(Arrays.asList(names));
		ok.add("--bootstrap");
		ok.add("--config");
		for (String k : opts.keySet())
			if (!ok.contains(k))
				throw new Usage("unknown option " + k + (k.equals("--topic-config") ? " (--config k=v)" : ""));
	}

	List<String> list(String k) {
		return opts.getOrDefault(k, List.of());
	}

	String opt(String k, String def) {
		List<String> l = opts.get(k);
		return l == null ? def : l.get(l.size() - 1);
	}

	String need(String k) {
		String v = opt(k, null);
		if (v == null)
			throw new Usage(k + " is required");
		return v;
	}

	boolean flag(String k) {
		return opts.containsKey(k);
	}

	long num(String k, long def) {
		String v = opt(k, null);
		if (v == null)
			return def;
		try {
			return Long.parseLong(v);
		} catch (NumberFormatException e) {
			throw new Usage(k + ": not a number: " + v);
		}
	}

	long needNum(String k) {
		need(k);
		return num(k, 0);
	}

	String oneOf(String k, String def, String... choices) {
		String v = opt(k, def);
		if (v != null && !Arrays.asList(choices).contains(v))
			throw new Usage(k + " must be one of " + String.join("|", choices));
		return v;
	}

	/* ---- clients ---- */

	/** Our settings, then the --config file's, then --bootstrap. */
	Properties props(Map<String, Object> ours) {
		Properties p = new Properties();
		p.putAll(ours);
		p.putAll(fileProps);
		p.put("bootstrap.servers", need("--bootstrap"));
		return p;
	}

	Admin admin() {
		return Admin.create(props(Map.of("default.api.timeout.ms", (int) WAIT_MS)));
	}

	KafkaProducer<byte[], byte[]> producer(Map<String, Object> extra) {
		Map<String, Object> m = new HashMap<>();
		m.put("acks", "all");
		m.put("enable.idempotence", "true");
		m.put("max.in.flight.requests.per.connection", "5"); /* ordered: idempotent */
		m.put("linger.ms", "5");
		m.put("batch.size", "65536");
		m.put("max.block.ms", (int) WAIT_MS);
		m.put("key.serializer", ByteArraySerializer.class.getName());
		m.put("value.serializer", ByteArraySerializer.class.getName());
		m.putAll(extra);
		return new KafkaProducer<>(props(m));
	}

	static <T> T get(org.apache.kafka.common.KafkaFuture<T> f) throws Exception {
		try {
			return f.get();
		} catch (ExecutionException e) {
			if (e.getCause() instanceof Exception)
				throw (Exception) e.getCause();
			throw e;
		}
	}

	static List<Integer> partitions(Admin a, String topic) throws Exception {
		TopicDescription d = get(a.describeTopics(List.of(topic)).allTopicNames()).get(topic);
		List<Integer> l = new ArrayList<>();
		for (TopicPartitionInfo i : d.partitions())
			l.add(i.partition());
		l.sort(null);
		return l;
	}

	static Map<Integer, Long> offsets(Admin a, String topic, Collection<Integer> parts, OffsetSpec spec,
			IsolationLevel iso) throws Exception {
		Map<TopicPartition, OffsetSpec> q = new HashMap<>();
		for (int p : parts)
			q.put(new TopicPartition(topic, p), spec);
		Map<Integer, Long> r = new TreeMap<>();
		get(a.listOffsets(q, new ListOffsetsOptions(iso)).all())
				.forEach((tp, info) -> r.put(tp.partition(), info.offset()));
		return r;
	}

	static Map<Integer, Long> ends(Admin a, String topic, Collection<Integer> parts) throws Exception {
		return offsets(a, topic, parts, OffsetSpec.latest(), IsolationLevel.READ_UNCOMMITTED);
	}

	/** Waits until every partition's high watermark reaches want (the control
	 * markers of our transactions are written after commit/abort returns). */
	static void waitEnds(Admin a, String topic, Map<Integer, Long> want) throws Exception {
		long until = System.currentTimeMillis() + WAIT_MS;
		for (;;) {
			Map<Integer, Long> have = ends(a, topic, want.keySet());
			boolean ok = true;
			for (var e : want.entrySet())
				ok &= have.get(e.getKey()) >= e.getValue();
			if (ok)
				return;
			if (System.currentTimeMillis() > until)
				throw new Fail(topic + ": end offsets " + have + " did not reach " + want);
			Thread.sleep(20);
		}
	}

	/* ---- record contents ---- */

	/** kf_probe's scheme: which records a topic holds, derived from (topic, partition, SEQ). */
	static final class Scheme {
		final String topic;
		final int size;
		final int keys; /* 0 none, 1 seq, 2 mod; -1 null key and value */
		final long mod;

		Scheme(String topic, int size, String keyspec) {
			this.topic = topic;
			this.size = size;
			if (keyspec.equals("null")) {
				keys = -1;
				mod = 0;
			} else if (keyspec.equals("none")) {
				keys = 0;
				mod = 0;
			} else if (keyspec.equals("seq")) {
				keys = 1;
				mod = 0;
			} else if (keyspec.startsWith("mod:")) {
				keys = 2;
				try {
					mod = Long.parseLong(keyspec.substring(4));
				} catch (NumberFormatException e) {
					throw new Usage("bad key scheme " + keyspec);
				}
				if (mod <= 0)
					throw new Usage("bad key scheme " + keyspec);
			} else
				throw new Usage("key scheme must be none|seq|mod:K");
		}

		byte[] value(int p, long seq) {
			if (keys < 0)
				return null;
			byte[] t = (topic + "/" + p + "/" + seq).getBytes(StandardCharsets.UTF_8);
			if (t.length >= size)
				return t;
			byte[] v = Arrays.copyOf(t, size);
			Arrays.fill(v, t.length, size, (byte) '.');
			return v;
		}

		byte[] key(long seq) {
			if (keys <= 0)
				return null;
			return ("k" + (keys == 1 ? seq : seq % mod)).getBytes(StandardCharsets.UTF_8);
		}

		ProducerRecord<byte[], byte[]> record(int p, long seq) {
			Header h = new RecordHeader("h", Long.toString(seq).getBytes(StandardCharsets.UTF_8));
			return new ProducerRecord<>(topic, p, null, key(seq), value(p, seq), new RecordHeaders(new Header[] { h }));
		}

		/** Like kf_probe: the value is the text and then only '.'; with a
		 * size (> 0) also exactly that long. */
		boolean matches(ConsumerRecord<byte[], byte[]> r) {
			long seq = r.offset();
			Header[] hs = r.headers().toArray();
			byte[] v = r.value();
			boolean ok;
			if (keys < 0)
				ok = v == null;
			else {
				byte[] t = (topic + "/" + r.partition() + "/" + seq).getBytes(StandardCharsets.UTF_8);
				ok = v != null && v.length >= t.length && Arrays.equals(v, 0, t.length, t, 0, t.length)
						&& (size <= 0 || v.length == Math.max(size, t.length));
				for (int i = t.length; ok && i < v.length; i++)
					ok = v[i] == '.';
			}
			return ok && Arrays.equals(r.key(), key(seq))
					&& hs.length == 1 && hs[0].key().equals("h")
					&& Arrays.equals(hs[0].value(), Long.toString(seq).getBytes(StandardCharsets.UTF_8));
		}
	}

	Scheme scheme(String topic) {
		long size = num("--size", 100);
		if (size < 0 || size > 100 << 20)
			throw new Usage("--size out of range");
		return new Scheme(topic, (int) size, opt("--keys", "none"));
	}

	/** Send callbacks that check each record landed at the offset we assumed. */
	static final class Checker {
		final AtomicLong sent = new AtomicLong(), bad = new AtomicLong(), errors = new AtomicLong();
		final AtomicReference<String> first = new AtomicReference<>();

		Callback expect(int p, long seq) {
			sent.incrementAndGet();
			return (md, ex) -> {
				if (ex != null) {
					errors.incrementAndGet();
					first.compareAndSet(null, "partition " + p + " SEQ " + seq + ": " + describe(ex));
				} else if (md.offset() != seq) {
					bad.incrementAndGet();
					first.compareAndSet(null, "partition " + p + ": record SEQ " + seq + " landed at offset " + md.offset());
				}
			};
		}

		void verdict() {
			if (errors.get() > 0)
				throw new Usage(errors.get() + " of " + sent.get() + " sends failed; first: " + first.get());
			if (bad.get() > 0)
				throw new Fail(bad.get() + " of " + sent.get() + " records not at their predicted offset; first: "
						+ first.get());
		}
	}

	/* ---- topics ---- */

	int createTopic() throws Exception {
		allow(1, "--partitions", "--replication", "--topic-config", "--if-not-exists");
		String name = pos.get(0);
		int np = (int) needNum("--partitions");
		long rf = num("--replication", -1);
		Map<String, String> cfg = new HashMap<>();
		for (String kv : list("--topic-config")) {
			int eq = kv.indexOf('=');
			cfg.put(kv.substring(0, eq), kv.substring(eq + 1));
		}
		NewTopic nt = new NewTopic(name, java.util.Optional.of(np),
				rf < 0 ? java.util.Optional.empty() : java.util.Optional.of((short) rf)).configs(cfg);
		try (Admin a = admin()) {
			String what = "created";
			try {
				get(a.createTopics(List.of(nt)).all());
			} catch (TopicExistsException e) {
				if (!flag("--if-not-exists"))
					throw new Usage(describe(e));
				int have = partitions(a, name).size();
				if (have != np)
					throw new Fail(name + " exists with " + have + " partitions, not " + np);
				what = "exists";
			}
			/* Until every partition has a leader, producers and kfork would
			 * only see errors. */
			long until = System.currentTimeMillis() + WAIT_MS;
			for (;;) {
				try {
					TopicDescription d = get(a.describeTopics(List.of(name)).allTopicNames()).get(name);
					if (d.partitions().size() == np
							&& d.partitions().stream().allMatch(i -> i.leader() != null && i.leader().id() >= 0))
						break;
				} catch (UnknownTopicOrPartitionException e) {
					/* not there yet */
				}
				if (System.currentTimeMillis() > until)
					throw new Usage(name + ": partitions have no leader after " + WAIT_MS + " ms");
				Thread.sleep(50);
			}
			out.println(what + " " + name + " " + np);
		}
		return 0;
	}

	int deleteTopic() throws Exception {
		allow(1, "--if-exists");
		String name = pos.get(0);
		try (Admin a = admin()) {
			try {
				get(a.deleteTopics(List.of(name)).all());
			} catch (UnknownTopicOrPartitionException e) {
				if (!flag("--if-exists"))
					throw new Usage(describe(e));
				out.println("absent " + name);
				return 0;
			}
			/* So that creating it again right away works. */
			long until = System.currentTimeMillis() + WAIT_MS;
			for (;;) {
				boolean there = false;
				for (TopicListing l : get(a.listTopics().listings()))
					there |= l.name().equals(name);
				if (!there)
					break;
				if (System.currentTimeMillis() > until)
					throw new Usage(name + ": still listed " + WAIT_MS + " ms after deletion");
				Thread.sleep(50);
			}
			out.println("deleted " + name);
		}
		return 0;
	}

	int topicId() throws Exception {
		allow(1);
		String name = pos.get(0);
		try (Admin a = admin()) {
			Uuid id = get(a.describeTopics(List.of(name)).allTopicNames()).get(name).topicId();
			if (id == null || id.equals(Uuid.ZERO_UUID))
				throw new Usage(name + ": the broker gave no topic id (brokers before 2.8 have none)");
			out.println(id + " " + String.format("%016x%016x", id.getMostSignificantBits(), id.getLeastSignificantBits()));
		}
		return 0;
	}

	int endOffsets() throws Exception {
		allow(1, "--isolation", "--earliest");
		String topic = pos.get(0);
		IsolationLevel iso = isolation();
		try (Admin a = admin()) {
			offsets(a, topic, partitions(a, topic), flag("--earliest") ? OffsetSpec.earliest() : OffsetSpec.latest(), iso)
					.forEach((p, o) -> out.println(p + " " + o));
		}
		return 0;
	}

	IsolationLevel isolation() {
		return oneOf("--isolation", "read_uncommitted", "read_committed", "read_uncommitted").equals("read_committed")
				? IsolationLevel.READ_COMMITTED
				: IsolationLevel.READ_UNCOMMITTED;
	}

	/* ---- producing ---- */

	int produce(boolean nulls) throws Exception {
		if (nulls)
			allow(1, "--partition", "--count");
		else
			allow(1, "--count", "--partition", "--codec", "--size", "--keys", "--batch", "--acks", "--every-ms");
		String topic = pos.get(0);
		long count = needNum("--count");
		String codec = oneOf("--codec", "none", "none", "gzip", "snappy", "lz4", "zstd");
		oneOf("--acks", "all", "all", "-1"); /* the idempotent producer needs acks=all */
		long batch = num("--batch", 0);
		long every = num("--every-ms", 0);
		if (every < 0 || (every > 0 && batch > 0))
			throw new Usage("--every-ms takes a positive number and no --batch");
		Scheme s = nulls ? new Scheme(topic, 0, "null") : scheme(topic);
		if (count < 0 || batch < 0)
			throw new Usage("--count and --batch must not be negative");

		try (Admin a = admin()) {
			List<Integer> parts = partitions(a, topic);
			if (flag("--partition")) {
				int p = (int) num("--partition", 0);
				if (!parts.contains(p))
					throw new Usage(topic + " has no partition " + p);
				parts = List.of(p);
			}
			Map<Integer, Long> start = ends(a, topic, parts);
			int n = parts.size();
			long[] next = new long[n];
			for (int i = 0; i < n; i++)
				next[i] = start.get(parts.get(i));

			Map<String, Object> cfg = new HashMap<>();
			cfg.put("compression.type", codec);
			if (batch > 0) {
				/* Batches close only on flush(): each flush sends one batch of
				 * exactly `batch` records per partition. */
				long one = s.size + 64 + (s.keys > 0 ? 24 : 0);
				long bytes = Math.min(Integer.MAX_VALUE / 4, batch * one + 1024);
				cfg.put("linger.ms", "600000");
				cfg.put("delivery.timeout.ms", "720000");
				cfg.put("batch.size", (int) Math.max(16384, bytes));
				cfg.put("max.request.size", (int) Math.max(1 << 20, bytes + 4096));
				cfg.put("buffer.memory", Math.max(32L << 20, 2 * n * bytes));
			}
			Checker ck = new Checker();
			try (KafkaProducer<byte[], byte[]> pr = producer(cfg)) {
				if (batch == 0) {
					long t0 = System.nanoTime();
					for (long i = 0; i < count; i++) {
						int k = (int) (i % n);
						long seq = next[k]++;
						if (every > 0) {
							/* sparse traffic: one record, sent, then the
							 * next one `every` ms after the previous */
							long wait = t0 + i * every * 1000000 - System.nanoTime();
							if (wait > 0)
								Thread.sleep(wait / 1000000, (int) (wait % 1000000));
						}
						pr.send(s.record(parts.get(k), seq), ck.expect(parts.get(k), seq));
						if (every > 0)
							pr.flush();
					}
				} else {
					for (long sent = 0; sent < count;) {
						for (int k = 0; k < n && sent < count; k++)
							for (long j = 0; j < batch && sent < count; j++, sent++) {
								long seq = next[k]++;
								pr.send(s.record(parts.get(k), seq), ck.expect(parts.get(k), seq));
							}
						pr.flush();
					}
				}
				pr.flush();
			}
			ck.verdict();
			for (int k = 0; k < n; k++)
				if (next[k] > start.get(parts.get(k)))
					out.println(parts.get(k) + " " + start.get(parts.get(k)) + " " + (next[k] - 1));
		}
		return 0;
	}

	String txnId() {
		return opt("--txn-id", "kf-oracle-" + ProcessHandle.current().pid());
	}

	KafkaProducer<byte[], byte[]> txnProducer() {
		return producer(Map.of("transactional.id", txnId(), "transaction.timeout.ms",
				(int) num("--txn-timeout-ms", 60000)));
	}

	int txn() throws Exception {
		allow(2, "--partition", "--count", "--open", "--txn-id", "--txn-timeout-ms", "--size", "--keys");
		String topic = pos.get(0);
		String action = pos.get(1);
		if (!action.equals("commit") && !action.equals("abort"))
			throw new Usage("txn: say commit or abort");
		int p = (int) needNum("--partition");
		long count = needNum("--count");
		if (count < 1)
			throw new Usage("--count must be at least 1");
		Scheme s = scheme(topic);
		try (Admin a = admin()) {
			long first = ends(a, topic, List.of(p)).get(p);
			long last = first + count - 1;
			Checker ck = new Checker();
			try (KafkaProducer<byte[], byte[]> pr = txnProducer()) {
				pr.initTransactions();
				pr.beginTransaction();
				for (long seq = first; seq <= last; seq++)
					pr.send(s.record(p, seq), ck.expect(p, seq));
				pr.flush();
				try {
					ck.verdict();
				} catch (RuntimeException e) {
					pr.abortTransaction();
					throw e;
				}
				if (flag("--open")) {
					out.println("open " + first + " " + last);
					out.flush();
					BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
					for (String l; (l = in.readLine()) != null;) {
						l = l.trim();
						if (l.equals("commit") || l.equals("abort")) {
							action = l;
							break;
						}
						if (!l.isEmpty())
							System.err.println("oracle: txn: ignoring \"" + l + "\" (say commit or abort)");
					}
				}
				if (action.equals("commit"))
					pr.commitTransaction();
				else
					pr.abortTransaction();
			}
			/* The control marker takes offset last + 1. */
			waitEnds(a, topic, Map.of(p, last + 2));
			out.println((action.equals("commit") ? "committed " : "aborted ") + first + " " + last);
		}
		return 0;
	}

	int txnMix() throws Exception {
		allow(1, "--partitions", "--txns", "--per-txn", "--abort-every", "--seed", "--expect", "--txn-id",
				"--txn-timeout-ms", "--size", "--keys");
		String topic = pos.get(0);
		int np = (int) needNum("--partitions");
		long txns = needNum("--txns");
		long per = needNum("--per-txn");
		long every = num("--abort-every", 0);
		Random rnd = new Random(num("--seed", 1));
		Scheme s = scheme(topic);
		if (np < 1 || txns < 0 || per < 1)
			throw new Usage("need --partitions >= 1, --txns >= 0, --per-txn >= 1");
		try (Admin a = admin()) {
			List<Integer> parts = partitions(a, topic);
			if (parts.size() < np)
				throw new Usage(topic + " has only " + parts.size() + " partitions");
			parts = parts.subList(0, np);
			Map<Integer, Long> start = ends(a, topic, parts);
			long[] next = new long[np];
			for (int i = 0; i < np; i++)
				next[i] = start.get(i);
			List<List<Long>> committed = new ArrayList<>();
			for (int i = 0; i < np; i++)
				committed.add(new ArrayList<>());
			long aborted = 0;
			Checker ck = new Checker();
			try (KafkaProducer<byte[], byte[]> pr = txnProducer()) {
				pr.initTransactions();
				for (long t = 1; t <= txns; t++) {
					boolean abort = every > 0 && t % every == 0;
					boolean[] touched = new boolean[np];
					pr.beginTransaction();
					for (long i = 0; i < per; i++) {
						int p = rnd.nextInt(np);
						long seq = next[p]++;
						touched[p] = true;
						pr.send(s.record(p, seq), ck.expect(p, seq));
						if (!abort)
							committed.get(p).add(seq);
					}
					if (abort) {
						pr.flush(); /* abort drops what is not sent yet */
						pr.abortTransaction();
						aborted++;
					} else
						pr.commitTransaction();
					for (int p = 0; p < np; p++)
						if (touched[p])
							next[p]++; /* the control marker */
				}
			}
			ck.verdict();
			Map<Integer, Long> want = new HashMap<>();
			for (int p = 0; p < np; p++)
				want.put(p, next[p]);
			waitEnds(a, topic, want);
			long ncommitted = 0;
			for (int p = 0; p < np; p++) {
				ncommitted += committed.get(p).size();
				out.println(p + " " + start.get(p) + " " + next[p] + " " + committed.get(p).size());
			}
			out.println("txns " + txns + " committed " + (txns - aborted) + " aborted " + aborted + " records "
					+ txns * per + " committed-records " + ncommitted);
			String f = opt("--expect", null);
			if (f != null)
				try (PrintStream e = new PrintStream(new java.io.BufferedOutputStream(new FileOutputStream(f)), false,
						"UTF-8")) {
					for (int p = 0; p < np; p++)
						for (long o : committed.get(p))
							e.println(p + " " + o);
				}
		}
		return 0;
	}

	/* ---- groups ---- */

	int committed() throws Exception {
		allow(2);
		String group = pos.get(0), topic = pos.get(1);
		try (Admin a = admin()) {
			List<Integer> parts = partitions(a, topic);
			Map<TopicPartition, OffsetAndMetadata> m = get(
					a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
			for (int p : parts) {
				OffsetAndMetadata o = m.get(new TopicPartition(topic, p));
				out.println(p + " " + (o == null ? -1 : o.offset()));
			}
		}
		return 0;
	}

	static ConsumerGroupDescription describeGroup(Admin a, String group) throws Exception {
		try {
			return get(a.describeConsumerGroups(List.of(group)).all()).get(group);
		} catch (GroupIdNotFoundException e) {
			return null;
		}
	}

	int group() throws Exception {
		allow(1);
		String group = pos.get(0);
		try (Admin a = admin()) {
			ConsumerGroupDescription d = describeGroup(a, group);
			out.println("group " + group);
			if (d == null) {
				out.println("state Dead");
				out.println("members 0");
				return 0;
			}
			String ptype = "consumer";
			if (d.type() == GroupType.CLASSIC) {
				ClassicGroupDescription c = get(a.describeClassicGroups(List.of(group)).all()).get(group);
				ptype = c.protocol().isEmpty() ? "-" : c.protocol();
			}
			out.println("state " + d.groupState());
			out.println("type " + d.type().toString().toLowerCase());
			out.println("protocol-type " + ptype);
			out.println("assignor " + (d.partitionAssignor() == null || d.partitionAssignor().isEmpty() ? "-"
					: d.partitionAssignor()));
			out.println("generation " + d.groupEpoch().map(String::valueOf).orElse("?"));
			out.println("members " + d.members().size());
			List<String> lines = new ArrayList<>();
			for (MemberDescription m : d.members()) {
				List<TopicPartition> tps = new ArrayList<>(m.assignment().topicPartitions());
				tps.sort((x, y) -> x.topic().equals(y.topic()) ? Integer.compare(x.partition(), y.partition())
						: x.topic().compareTo(y.topic()));
				StringBuilder b = new StringBuilder();
				for (TopicPartition tp : tps)
					b.append(b.length() > 0 ? "," : "").append(tp.topic()).append('-').append(tp.partition());
				lines.add("member " + m.consumerId() + " instance " + m.groupInstanceId().orElse("-") + " client "
						+ m.clientId() + " host " + m.host() + " partitions " + (b.length() > 0 ? b : "-"));
			}
			lines.sort(null);
			lines.forEach(out::println);
		}
		return 0;
	}

	int waitEmpty() throws Exception {
		allow(1, "--timeout");
		String group = pos.get(0);
		long until = System.currentTimeMillis() + 1000 * num("--timeout", 30);
		try (Admin a = admin()) {
			for (;;) {
				ConsumerGroupDescription d = describeGroup(a, group);
				int n = d == null ? 0 : d.members().size();
				if (n == 0) {
					out.println("empty " + group);
					return 0;
				}
				if (System.currentTimeMillis() > until)
					throw new Fail(group + " still has " + n + " member(s)");
				Thread.sleep(100);
			}
		}
	}

	int quota() throws Exception {
		allow(0, "--user", "--client-id", "--consumer-byte-rate", "--producer-byte-rate", "--remove");
		Map<String, String> ent = new HashMap<>();
		if (flag("--user"))
			ent.put(ClientQuotaEntity.USER, opt("--user", null));
		if (flag("--client-id"))
			ent.put(ClientQuotaEntity.CLIENT_ID, opt("--client-id", null));
		if (ent.isEmpty())
			ent.put(ClientQuotaEntity.CLIENT_ID, null); /* the default client-id entity */
		ClientQuotaEntity entity = new ClientQuotaEntity(ent);
		Map<String, Double> want = new TreeMap<>();
		if (flag("--remove")) {
			if (flag("--consumer-byte-rate") || flag("--producer-byte-rate"))
				throw new Usage("--remove takes no rate");
			want.put("consumer_byte_rate", null);
			want.put("producer_byte_rate", null);
		} else {
			if (flag("--consumer-byte-rate"))
				want.put("consumer_byte_rate", (double) num("--consumer-byte-rate", 0));
			if (flag("--producer-byte-rate"))
				want.put("producer_byte_rate", (double) num("--producer-byte-rate", 0));
			if (want.isEmpty())
				throw new Usage("quota: give --consumer-byte-rate R, --producer-byte-rate R or --remove");
		}
		List<ClientQuotaAlteration.Op> ops = new ArrayList<>();
		want.forEach((k, v) -> ops.add(new ClientQuotaAlteration.Op(k, v)));
		List<ClientQuotaFilterComponent> comps = new ArrayList<>();
		ent.forEach((k, v) -> comps.add(v == null ? ClientQuotaFilterComponent.ofDefaultEntity(k)
				: ClientQuotaFilterComponent.ofEntity(k, v)));
		ClientQuotaFilter filter = ClientQuotaFilter.containsOnly(comps);
		try (Admin a = admin()) {
			get(a.alterClientQuotas(List.of(new ClientQuotaAlteration(entity, ops))).all());
			/* Wait until the broker we ask shows it. */
			long until = System.currentTimeMillis() + WAIT_MS;
			for (;;) {
				Map<String, Double> have = get(a.describeClientQuotas(filter).entities()).getOrDefault(entity, Map.of());
				boolean ok = true;
				for (var e : want.entrySet())
					ok &= e.getValue() == null ? !have.containsKey(e.getKey()) : e.getValue().equals(have.get(e.getKey()));
				if (ok)
					break;
				if (System.currentTimeMillis() > until)
					throw new Fail("quota not in effect after " + WAIT_MS + " ms: " + have);
				Thread.sleep(50);
			}
		}
		StringBuilder b = new StringBuilder(flag("--remove") ? "removed" : "quota");
		new TreeMap<>(ent).forEach((k, v) -> b.append(' ').append(k).append('=').append(v == null ? "<default>" : v));
		want.forEach((k, v) -> {
			if (v != null)
				b.append(' ').append(k).append('=').append(v.longValue());
		});
		out.println(b);
		return 0;
	}

	/* ---- benchmark helpers (tests/bench/compare.sh) ---- */

	/** "PARTITION OFFSET" lines, e.g. what end-offsets printed. */
	static Map<Integer, Long> readOffsets(String f) throws IOException {
		Map<Integer, Long> m = new TreeMap<>();
		for (String l : java.nio.file.Files.readAllLines(java.nio.file.Path.of(f))) {
			String[] w = l.trim().split("\\s+");
			if (w.length < 2 || w[0].isEmpty())
				continue;
			try {
				m.put(Integer.parseInt(w[0]), Long.parseLong(w[1]));
			} catch (NumberFormatException e) {
				throw new Usage(f + ": not \"PARTITION OFFSET\": " + l);
			}
		}
		if (m.isEmpty())
			throw new Usage(f + ": no offsets");
		return m;
	}

	/** Polls the group's committed offsets in this one JVM (a benchmark
	 * cannot start one per look) until they equal the end offsets; prints
	 * when the first commit showed and when they were equal. */
	int waitCommitted() throws Exception {
		allow(2, "--ends", "--until-end", "--interval-ms", "--timeout-s");
		String group = pos.get(0), topic = pos.get(1);
		if (flag("--ends") == flag("--until-end"))
			throw new Usage("wait-committed: give --ends FILE or --until-end");
		long interval = num("--interval-ms", 100), timeout = num("--timeout-s", 600);
		if (interval < 1 || timeout < 1)
			throw new Usage("--interval-ms and --timeout-s must be positive");
		Map<Integer, Long> want = flag("--ends") ? readOffsets(opt("--ends", null)) : null;
		long t0 = System.nanoTime();
		long until = t0 + timeout * 1000000000L;
		try (Admin a = admin()) {
			List<Integer> parts = partitions(a, topic);
			if (want != null && !want.keySet().equals(new HashSet<>(parts)))
				throw new Usage(topic + " has partitions " + parts + ", the --ends file " + want.keySet());
			/* One look before "ready": the group's coordinator is found
			 * (on a new broker __consumer_offsets is created and loaded
			 * now, not while the consumer measured starts). */
			get(a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
			out.println("ready " + System.currentTimeMillis());
			out.flush();
			boolean first = false;
			Map<Integer, Long> have = new TreeMap<>(), ends = want;
			for (;;) {
				if (want == null)
					ends = ends(a, topic, parts);
				Map<TopicPartition, OffsetAndMetadata> m = get(
						a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
				have.clear();
				for (int p : parts) {
					OffsetAndMetadata o = m.get(new TopicPartition(topic, p));
					have.put(p, o == null ? -1L : o.offset());
				}
				long now = System.nanoTime(), epoch = System.currentTimeMillis();
				if (!first && have.values().stream().anyMatch(o -> o >= 0)) {
					first = true;
					out.println("first-commit " + (now - t0) / 1000000 + " " + epoch);
					out.flush();
				}
				if (have.equals(ends)) {
					if (!first)
						out.println("first-commit " + (now - t0) / 1000000 + " " + epoch);
					out.println("drained " + (now - t0) / 1000000 + " " + epoch);
					return 0;
				}
				if (now > until) {
					out.println("timeout " + (now - t0) / 1000000 + " " + epoch);
					for (int p : parts)
						out.println(p + " " + have.get(p) + " " + ends.get(p));
					throw new Fail(group + ": committed " + have + " not " + ends + " after " + timeout + " s");
				}
				Thread.sleep(interval);
			}
		}
	}

	/** Spends usec of this thread's CPU time (a pure integer loop). */
	static long burn(java.lang.management.ThreadMXBean t, long usec) {
		long end = t.getCurrentThreadCpuTime() + usec * 1000, x = 1;
		while (t.getCurrentThreadCpuTime() < end)
			for (int i = 0; i < 200; i++)
				x = x * 6364136223846793005L + 1;
		return x;
	}

	/** A Java KafkaConsumer as a benchmark peer: its defaults unless told,
	 * auto commit, optional work per record in the poll loop, "PARTITION
	 * OFFSET SECONDS" per record done; stops on SIGTERM with a clean close. */
	int benchConsume() throws Exception {
		allow(1, "--group", "--burn-us", "--sleep-ms", "--auto-commit-ms", "--out", "--stats", "--session-ms",
				"--heartbeat-ms", "--client-id", "--max-poll-records");
		String topic = pos.get(0);
		String group = need("--group");
		long burnUs = num("--burn-us", 0), sleepMs = num("--sleep-ms", 0);
		Map<String, Object> m = new HashMap<>();
		m.put("key.deserializer", ByteArrayDeserializer.class.getName());
		m.put("value.deserializer", ByteArrayDeserializer.class.getName());
		m.put("group.id", group);
		m.put("auto.offset.reset", "earliest");
		m.put("enable.auto.commit", "true");
		String[][] map = { { "--auto-commit-ms", "auto.commit.interval.ms" },
				{ "--session-ms", "session.timeout.ms" }, { "--heartbeat-ms", "heartbeat.interval.ms" },
				{ "--client-id", "client.id" }, { "--max-poll-records", "max.poll.records" } };
		for (String[] e : map)
			if (flag(e[0]))
				m.put(e[1], opt(e[0], null));
		String f = opt("--out", null);
		PrintStream w = f == null ? null
				: new PrintStream(new java.io.BufferedOutputStream(new FileOutputStream(f, true)), false, "UTF-8");
		java.lang.management.ThreadMXBean tmx = java.lang.management.ManagementFactory.getThreadMXBean();
		long[] st = new long[4]; /* assigns, revokes, lost, processed */
		long t0 = System.nanoTime();
		double[] firstRecord = { -1 };
		KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(props(m));
		CountDownLatch closed = new CountDownLatch(1);
		int[] rc = { 0 };
		java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			stop.set(true);
			c.wakeup();
			try {
				closed.await(60, TimeUnit.SECONDS);
			} catch (InterruptedException e) {
				/* exit anyway */
			}
			System.out.flush();
			System.err.flush();
			Runtime.getRuntime().halt(closed.getCount() == 0 ? rc[0] : 1);
		}));
		try {
			c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
				public void onPartitionsRevoked(Collection<TopicPartition> p) {
					st[1]++;
				}

				public void onPartitionsAssigned(Collection<TopicPartition> p) {
					st[0]++;
				}

				public void onPartitionsLost(Collection<TopicPartition> p) {
					st[2]++;
				}
			});
			long x = 0;
			while (!stop.get()) {
				ConsumerRecords<byte[], byte[]> recs;
				try {
					recs = c.poll(Duration.ofMillis(500));
				} catch (org.apache.kafka.common.errors.WakeupException e) {
					break;
				}
				next: for (TopicPartition tp : recs.partitions())
					for (ConsumerRecord<byte[], byte[]> r : recs.records(tp)) {
						if (stop.get()) {
							/* what this poll gave and we did not do: the
							 * auto commit at close must not cover it */
							c.seek(tp, r.offset());
							continue next;
						}
						byte[] v = r.value();
						x += v == null ? 0 : v.length;
						if (burnUs > 0)
							x += burn(tmx, burnUs);
						if (sleepMs > 0)
							Thread.sleep(sleepMs);
						st[3]++;
						double s = (System.nanoTime() - t0) / 1e9;
						if (firstRecord[0] < 0)
							firstRecord[0] = s;
						if (w != null) {
							w.printf("%d %d %.3f%n", r.partition(), r.offset(), s);
							w.flush();
						}
					}
			}
			if (x == 42)
				System.err.print(""); /* keep the work */
		} catch (Throwable e) {
			System.err.println("oracle: bench-consume: " + describe(e));
			rc[0] = 2;
		} finally {
			try {
				c.close(); /* commits what was done, leaves the group */
			} catch (Throwable e) {
				System.err.println("oracle: bench-consume: close: " + describe(e));
				rc[0] = 2;
			}
			if (w != null)
				w.close();
			String sf = opt("--stats", null);
			if (sf != null)
				try (PrintStream j = new PrintStream(new FileOutputStream(sf), false, "UTF-8")) {
					j.printf("{\"assigns\": %d, \"revokes\": %d, \"lost\": %d, \"processed\": %d, \"first_record_s\": %s}%n",
							st[0], st[1], st[2], st[3], firstRecord[0] < 0 ? "null" : String.format("%.3f", firstRecord[0]));
				}
			closed.countDown();
		}
		/* not stopped by a signal: the loop ended by itself (an error) */
		return rc[0] == 0 ? 2 : rc[0];
	}

	/* ---- the reference consumer ---- */

	int consume() throws Exception {
		allow(1, "--group", "--isolation", "--assignor", "--protocol", "--commit", "--max", "--idle-ms", "--out",
				"--format", "--check", "--size", "--client-id", "--instance", "--join-ms", "--sleep-ms",
				"--max-poll-records");
		String topic = pos.get(0);
		String group = opt("--group", null);
		long max = num("--max", -1);
		long sleepMs = num("--sleep-ms", 0);
		long idle = num("--idle-ms", 5000);
		long joinMs = num("--join-ms", 60000);
		boolean full = oneOf("--format", "full", "full", "offsets").equals("full");
		String protocol = oneOf("--protocol", "classic", "classic", "consumer");
		Scheme check = flag("--check") ? new Scheme(topic, (int) num("--size", 0), opt("--check", "none")) : null;
		boolean commit = flag("--commit");
		if (commit && group == null)
			throw new Usage("--commit needs --group");

		Map<String, Object> m = new HashMap<>();
		m.put("key.deserializer", ByteArrayDeserializer.class.getName());
		m.put("value.deserializer", ByteArrayDeserializer.class.getName());
		m.put("enable.auto.commit", "false");
		m.put("auto.offset.reset", "earliest");
		m.put("allow.auto.create.topics", "false");
		m.put("isolation.level", isolation().toString().toLowerCase());
		m.put("default.api.timeout.ms", (int) WAIT_MS);
		if (group != null) {
			m.put("group.id", group);
			m.put("group.protocol", protocol);
		}
		if (flag("--client-id"))
			m.put("client.id", opt("--client-id", null));
		if (flag("--instance"))
			m.put("group.instance.id", opt("--instance", null));
		if (flag("--max-poll-records"))
			m.put("max.poll.records", (int) num("--max-poll-records", 500));
		String assignor = opt("--assignor", null);
		if (assignor != null) {
			if (protocol.equals("consumer"))
				m.put("group.remote.assignor", assignor);
			else
				m.put("partition.assignment.strategy", switch (assignor) {
				case "range" -> "org.apache.kafka.clients.consumer.RangeAssignor";
				case "roundrobin" -> "org.apache.kafka.clients.consumer.RoundRobinAssignor";
				case "sticky" -> "org.apache.kafka.clients.consumer.StickyAssignor";
				case "cooperative-sticky" -> "org.apache.kafka.clients.consumer.CooperativeStickyAssignor";
				default -> throw new Usage("--assignor must be range|roundrobin|sticky|cooperative-sticky");
				});
		}

		/* Lines sorted by (partition, offset) so they compare with --expect. */
		TreeMap<Integer, TreeMap<Long, String>> got = new TreeMap<>();
		long n = 0, bad = 0;
		String firstBad = null;
		try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(props(m))) {
			long[] lastActivity = { 0 }; /* 0 until the first assignment */
			if (group == null) {
				List<TopicPartition> tps = new ArrayList<>();
				for (var pi : c.partitionsFor(topic))
					tps.add(new TopicPartition(topic, pi.partition()));
				c.assign(tps);
				c.seekToBeginning(tps);
				lastActivity[0] = System.currentTimeMillis();
			} else
				c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
					/* Commit what we took before a rebalance hands it on, as a
					 * careful Java consumer does. */
					public void onPartitionsRevoked(Collection<TopicPartition> p) {
						if (!commit || p.isEmpty())
							return;
						Map<TopicPartition, OffsetAndMetadata> pos = new HashMap<>();
						for (TopicPartition tp : p)
							pos.put(tp, new OffsetAndMetadata(c.position(tp)));
						c.commitSync(pos);
					}

					public void onPartitionsAssigned(Collection<TopicPartition> p) {
						lastActivity[0] = System.currentTimeMillis();
					}
				});
			long joinUntil = System.currentTimeMillis() + joinMs;
			while (max < 0 || n < max) {
				ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(100));
				long now = System.currentTimeMillis();
				if (recs.isEmpty()) {
					if (lastActivity[0] == 0 && now > joinUntil)
						throw new Usage(topic + ": no partitions assigned within " + joinMs + " ms");
					if (lastActivity[0] != 0 && now - lastActivity[0] >= idle)
						break;
					continue;
				}
				lastActivity[0] = now;
				next: for (TopicPartition tp : recs.partitions())
					for (ConsumerRecord<byte[], byte[]> r : recs.records(tp)) {
						if (max >= 0 && n >= max) {
							c.seek(tp, r.offset()); /* so that --commit covers only what we took */
							continue next;
						}
						n++;
						if (sleepMs > 0) /* a slow handler */
							Thread.sleep(sleepMs);
						String line = r.partition() + " " + r.offset();
						if (full)
							line += " " + (r.key() == null ? "-" : new String(r.key(), StandardCharsets.UTF_8)) + " "
									+ (r.value() == null ? -1 : r.value().length);
						got.computeIfAbsent(r.partition(), k -> new TreeMap<>()).put(r.offset(), line);
						if (check != null && !check.matches(r) && bad++ == 0)
							firstBad = r.partition() + "/" + r.offset() + " value "
									+ (r.value() == null ? "null" : new String(r.value(), 0,
											Math.min(60, r.value().length), StandardCharsets.UTF_8));
					}
			}
			if (commit)
				c.commitSync();
		}
		String f = opt("--out", null);
		PrintStream w = f == null ? out
				: new PrintStream(new java.io.BufferedOutputStream(new FileOutputStream(f)), false, "UTF-8");
		for (var pm : got.values())
			for (String l : pm.values())
				w.println(l);
		w.flush();
		if (f != null) {
			w.close();
			if (w.checkError())
				throw new Usage(f + ": write error");
			out.println("consumed " + n + " distinct " + got.values().stream().mapToInt(Map::size).sum());
		}
		if (bad > 0)
			throw new Fail(bad + " of " + n + " records do not match the content scheme; first " + firstBad);
		return 0;
	}
}

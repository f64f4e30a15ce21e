# Drain a topic with confluent-kafka for bench-drain.sh: BOOTSTRAP GROUP
# TOPIC.  Auto commit every 500 ms like kcat -G; runs until SIGTERM, then
# closes the consumer (which commits the last offsets).
import signal
import sys

from confluent_kafka import Consumer

running = True


def stop(_sig, _frame):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
c = Consumer({
    "bootstrap.servers": sys.argv[1],
    "group.id": sys.argv[2],
    "auto.offset.reset": "earliest",
    "enable.auto.commit": True,
    "auto.commit.interval.ms": 500,
})
c.subscribe([sys.argv[3]])
while running:
    for m in c.consume(num_messages=10000, timeout=0.2):
        m.value()
c.close()

package hub.mongojava;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.util.concurrent.CountDownLatch;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;

/**
 * Starts mongo-java-server (in-memory backend) on 127.0.0.1 and prints one line
 * {@code mongo-java-server listening on mongodb://127.0.0.1:PORT/} to stdout.
 * Usage: {@code Main [port]} (0 or none: an ephemeral port). Stops on SIGTERM/SIGINT
 * or when stdin is closed (so it never outlives the process that started it).
 * The backend runs one command at a time and copies each reply (see SnapshotMemoryBackend);
 * {@code -Dmongo-java-server.raw=true} runs the plain MemoryBackend instead.
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) throws InterruptedException {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", System.getProperty("mongo-java-server.log", "warn"));
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 0;

        boolean raw = Boolean.getBoolean("mongo-java-server.raw");
        MongoServer server = new MongoServer(raw ? new MemoryBackend() : new SnapshotMemoryBackend());
        server.bind("127.0.0.1", port);
        InetSocketAddress address = server.getLocalAddress();

        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.shutdownNow();
            done.countDown();
        }, "shutdown"));

        Thread stdinWatch = new Thread(() -> {
            InputStream in = System.in;
            byte[] buffer = new byte[256];
            try {
                while (in.read(buffer) >= 0) {
                    // Input is ignored; only its end matters.
                }
            } catch (IOException ignored) {
                // A broken stdin counts as closed.
            }
            System.exit(0);
        }, "stdin-watch");
        stdinWatch.setDaemon(true);
        stdinWatch.start();

        System.out.println("mongo-java-server listening on mongodb://127.0.0.1:" + address.getPort() + "/");
        System.out.flush();
        done.await();
    }
}

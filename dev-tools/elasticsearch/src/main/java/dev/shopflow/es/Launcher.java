package dev.shopflow.es;

import org.apache.logging.log4j.core.config.Configurator;
import org.elasticsearch.Build;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.node.ShopflowNode;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Starts one single-node Elasticsearch for local development and CI (see dev-tools/elasticsearch/README.md).
 *
 * <pre>
 * java -cp 'lib/*' dev.shopflow.es.Launcher [HOME [HTTP_PORT [TRANSPORT_PORT]]]
 * </pre>
 * Arguments fall back to the system properties {@code shopflow.es.home}, {@code shopflow.es.http.port},
 * {@code shopflow.es.transport.port} (and {@code shopflow.es.cluster.name}), then to defaults
 * ({@code ./es-home}, 9200, 9300). HOME gets {@code config/ data/ logs/}; an optional
 * {@code HOME/config/elasticsearch.yml} is read, but the settings below take precedence.
 *
 * <p>This deliberately skips the real {@code org.elasticsearch.bootstrap.Elasticsearch} entry point (CLI process,
 * security manager, bootstrap checks, native controller): that needs the full distribution layout.
 */
public final class Launcher {

    public static void main(String[] args) throws Exception {
        Path home = Path.of(arg(args, 0, "shopflow.es.home", "es-home")).toAbsolutePath().normalize();
        int httpPort = Integer.parseInt(arg(args, 1, "shopflow.es.http.port", "9200"));
        int transportPort = Integer.parseInt(arg(args, 2, "shopflow.es.transport.port", "9300"));
        String clusterName = System.getProperty("shopflow.es.cluster.name", "shopflow-dev");
        String nodeName = "shopflow-es-0";

        for (String dir : List.of("config", "data", "logs")) {
            Files.createDirectories(home.resolve(dir));
        }

        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", clusterName)
            .put("node.name", nodeName)
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", transportPort)
            // dev/CI machines often have full-ish disks; don't turn indices read-only over watermarks
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            // allow DELETE /_all and wildcard deletes in tests
            .put("action.destructive_requires_name", false)
            .build();

        // Logging must be wired before any Elasticsearch class logs. configureWithoutConfig() installs ES's logger
        // factory bridge but leaves Log4j with an empty configuration (no appenders = silence), so we then load the
        // launcher's own log4j2.properties (console, INFO). We don't use LogConfigurator.configure(env): it wants
        // the distribution's config/log4j2.properties and redirects System.out/err into Log4j.
        LogConfigurator.configureESLogging();
        LogConfigurator.configureWithoutConfig(settings);
        Configurator.reconfigure(Launcher.class.getResource("/log4j2.properties").toURI());

        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings,
            Map.of(),
            home.resolve("config"),
            () -> nodeName
        );

        CountDownLatch stopped = new CountDownLatch(1);
        Node node;
        try {
            // Netty4Plugin supplies the "netty4" HTTP and transport implementations (the server jar has none);
            // RootInfoPlugin stands in for the unpublished rest-root module (GET / and HEAD /).
            node = new ShopflowNode(environment, List.of(Netty4Plugin.class, RootInfoPlugin.class));
            node.start();
        } catch (Throwable t) {
            System.err.println("shopflow-es: FAILED to start Elasticsearch: " + t);
            t.printStackTrace();
            System.exit(1);
            return;
        }

        final Node running = node;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("shopflow-es: stopping");
            try {
                running.prepareForClose();
                running.close();
                if (running.awaitClose(20, TimeUnit.SECONDS) == false) {
                    System.err.println("shopflow-es: node did not close within 20s");
                }
            } catch (Exception e) {
                System.err.println("shopflow-es: error while stopping: " + e);
            } finally {
                System.out.println("shopflow-es: stopped");
                stopped.countDown();
            }
        }, "shopflow-es-shutdown"));

        var http = node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress();
        System.out.printf(
            "shopflow-es: started Elasticsearch %s (pid %d) http=%s cluster=%s home=%s%n",
            Build.current().version(),
            ProcessHandle.current().pid(),
            http,
            clusterName,
            home
        );
        System.out.flush();

        // Elasticsearch's own threads are daemons: keep the JVM alive until SIGTERM/SIGINT runs the hook.
        stopped.await();
    }

    private static String arg(String[] args, int index, String property, String fallback) {
        if (args.length > index && args[index].isBlank() == false) {
            return args[index];
        }
        return System.getProperty(property, fallback);
    }

    private Launcher() {}
}

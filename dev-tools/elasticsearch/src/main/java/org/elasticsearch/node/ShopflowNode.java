package org.elasticsearch.node;

import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.ClasspathPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsService;

import java.util.Collection;
import java.util.List;

/**
 * A production {@link Node} whose plugins are classpath classes instead of plugin bundles on disk.
 *
 * <p>Why this package: since 8.12 the way to customise node construction is
 * {@code Node(NodeConstruction)} + {@link NodeServiceProvider}; the constructor, {@code NodeConstruction.prepareConstruction}
 * and the provider class are all package-private, so this class must be declared in {@code org.elasticsearch.node}
 * (this works because everything is on the plain classpath, i.e. in the unnamed module; the server jar is not sealed).
 *
 * <p>Why not the test framework's {@code MockNode}: its constructors go through {@code ESTestCase}, whose static
 * initialiser boots the Lucene/randomized test framework and installs a test security manager — not something a
 * long-running dev server should do. We only need one override: {@code newPluginService}.
 */
public class ShopflowNode extends Node {

    public ShopflowNode(Environment environment, Collection<Class<? extends Plugin>> classpathPlugins) {
        super(NodeConstruction.prepareConstruction(environment, new ClasspathServiceProvider(classpathPlugins), true));
    }

    private static final class ClasspathServiceProvider extends NodeServiceProvider {
        private final List<Class<? extends Plugin>> pluginClasses;

        ClasspathServiceProvider(Collection<Class<? extends Plugin>> pluginClasses) {
            this.pluginClasses = List.copyOf(pluginClasses);
        }

        @Override
        PluginsService newPluginService(Environment environment, Settings settings) {
            return new ClasspathPluginsService(settings, environment, pluginClasses);
        }
    }
}

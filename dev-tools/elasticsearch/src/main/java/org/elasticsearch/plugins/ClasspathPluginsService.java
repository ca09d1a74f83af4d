package org.elasticsearch.plugins;

import org.elasticsearch.Build;
import org.elasticsearch.action.admin.cluster.node.info.PluginsAndModules;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.jdk.ModuleQualifiedExportsService;
import org.elasticsearch.plugins.spi.SPIClassIterator;

import java.lang.reflect.Constructor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@link PluginsService} whose plugins are classes already on the JVM classpath.
 *
 * <p>The stock service only loads plugin <em>bundles</em> (directories with plugin-descriptor.properties, each in
 * its own class loader / module layer). Our jars come straight from Maven, so we instantiate the plugin classes
 * directly. It lives in {@code org.elasticsearch.plugins} because {@code LoadedPlugin}, {@code loadPlugin},
 * {@code loadExtensions} and {@code createExtension} are package-private.
 *
 * <p>Written for this launcher instead of using the test framework's {@code MockPluginsService}, so the runtime
 * classpath has no test-framework / randomized-testing / Lucene test-framework jars at all.
 */
public class ClasspathPluginsService extends PluginsService {

    private final List<LoadedPlugin> classpathPlugins;

    public ClasspathPluginsService(Settings settings, Environment environment, Collection<Class<? extends Plugin>> pluginClasses) {
        // null modules/plugins directories: never scan the disk for plugin bundles.
        super(settings, environment.configFile(), null, null);
        List<LoadedPlugin> loaded = new ArrayList<>();
        for (Class<? extends Plugin> pluginClass : pluginClasses) {
            Plugin instance = loadPlugin(pluginClass, settings, environment.configFile());
            PluginDescriptor descriptor = new PluginDescriptor(
                pluginClass.getName(),
                "classpath plugin",
                "NA",
                Build.current().version(),
                Integer.toString(Runtime.version().feature()),
                pluginClass.getName(),
                null,          // not a named module
                List.of(),     // extends no plugin
                false,
                false,
                false,
                false
            );
            loaded.add(new LoadedPlugin(descriptor, instance, pluginClass.getClassLoader(), ModuleLayer.boot()));
        }
        loadExtensions(loaded);
        this.classpathPlugins = List.copyOf(loaded);
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return classpathPlugins;
    }

    @Override
    public PluginsAndModules info() {
        return new PluginsAndModules(classpathPlugins.stream().map(p -> new PluginRuntimeInfo(p.descriptor())).toList(), List.of());
    }

    /**
     * All plugins share the system class loader, so a naive per-plugin SPI scan (what the base class does) would find
     * every provider on the classpath once per plugin. Instantiate each provider class once, for the first plugin whose
     * type it accepts (providers may take the owning plugin as their single constructor argument).
     */
    @Override
    public <T> List<? extends T> loadServiceProviders(Class<T> service) {
        Map<Class<?>, T> result = new LinkedHashMap<>();
        for (LoadedPlugin loadedPlugin : plugins()) {
            Plugin plugin = loadedPlugin.instance();
            var it = SPIClassIterator.get(service, plugin.getClass().getClassLoader());
            while (it.hasNext()) {
                Class<? extends T> providerClass = it.next();
                if (result.containsKey(providerClass) || acceptsPlugin(providerClass, plugin) == false) {
                    continue;
                }
                result.put(providerClass, createExtension(providerClass, service, plugin));
            }
        }
        return List.copyOf(result.values());
    }

    private static boolean acceptsPlugin(Class<?> providerClass, Plugin plugin) {
        for (Constructor<?> c : providerClass.getConstructors()) {
            if (c.getParameterCount() == 1 && c.getParameterTypes()[0] != plugin.getClass()) {
                return false;
            }
        }
        return true;
    }

    @Override
    protected void addServerExportsService(Map<String, List<ModuleQualifiedExportsService>> qualifiedExports) {
        // Everything runs in the unnamed module of the classpath: there are no module exports to wire up.
    }
}

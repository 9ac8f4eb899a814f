using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace SafeAI.Tests.Shared;

/// <summary>The checks every store package's registration methods share (compiled into each store package's tests).</summary>
internal static class StoreRegistrationAssert
{
    /// <summary>
    /// Checks one <c>Use…Store</c> method: bound from <paramref name="section"/> (its <paramref name="settingKey"/> set to
    /// <paramref name="setting"/>, read back by <paramref name="read"/>); it replaces a store registered before it and,
    /// registered twice, validates once; options that <paramref name="breakIt"/> makes invalid fail on first use naming the
    /// section; a null builder and a builder without services fail with messages that say what to do
    /// (<paramref name="inCodeHint"/>: the factory named there).
    /// </summary>
    public static void Check<TService, TStore, TOptions>(
        Func<SafeAIPipelineBuilder, Action<TOptions>?, SafeAIPipelineBuilder> use,
        string section,
        string method,
        string settingKey,
        string setting,
        Func<TOptions, string?> read,
        Action<TOptions> breakIt,
        string inCodeHint)
        where TService : class
        where TOptions : class
    {
        // Bound from its section; it replaces a store registered before it; registered twice, it validates once.
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"{section}:{settingKey}"] = setting,
        }).Build());
        services.AddSingleton(typeof(TService), _ => throw new InvalidOperationException("the earlier store was resolved"));
        services.AddSafeAI(safe => use(use(safe, null), null));
        Assert.Single(services, static d => d.ServiceType == typeof(TService));
        Assert.Single(services, static d => d.ServiceType == typeof(IValidateOptions<TOptions>));
        using (var provider = services.BuildServiceProvider())
        {
            var resolved = provider.GetRequiredService<TService>();
            Assert.IsType<TStore>(resolved);
            Assert.Equal(setting, read(provider.GetRequiredService<IOptions<TOptions>>().Value));
            (resolved as IDisposable)?.Dispose();
        }

        // Invalid options fail on first use, naming the setting; configure runs after binding.
        var bad = new ServiceCollection();
        bad.AddSafeAI(safe => use(safe, breakIt));
        using (var provider = bad.BuildServiceProvider())
        {
            var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<TService>());
            Assert.Contains($"{section}:", ex.Message, StringComparison.Ordinal);
        }

        // Misuse: a null builder, and a builder without services (in code), say what to do.
        Assert.Equal("builder", Assert.Throws<ArgumentNullException>(() => use(null!, null)).ParamName);
        var inCode = Assert.Throws<InvalidOperationException>(() => use(new SafeAIPipelineBuilder(), null));
        Assert.StartsWith($"{method}() needs dependency injection", inCode.Message, StringComparison.Ordinal);
        Assert.Contains(inCodeHint, inCode.Message, StringComparison.Ordinal);
    }
}

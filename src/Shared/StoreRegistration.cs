using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>
/// How a store package registers one store under dependency injection (compiled into each store package: the PostgreSQL
/// and SQLite packages' <c>Use…Store</c> methods all take this one path).
/// </summary>
internal static class StoreRegistration
{
    /// <summary>
    /// Binds <typeparamref name="TOptions"/> from <paramref name="sectionName"/>, validates them on first use with
    /// <paramref name="getError"/>, applies <paramref name="configure"/> after binding, and makes the store that
    /// <paramref name="create"/> builds from them the one <typeparamref name="TService"/> (replacing one registered before).
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="sectionName">The configuration section the options are bound from.</param>
    /// <param name="configure">Changes the options after configuration binding.</param>
    /// <param name="getError">The options' first invalid setting, named, or null when they are valid.</param>
    /// <param name="create">Creates the store from valid options.</param>
    /// <param name="withoutServices">The message when the builder has no services: what to do in code instead.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services.</exception>
    public static SafeAIPipelineBuilder Use<TService, TOptions>(
        SafeAIPipelineBuilder builder,
        string sectionName,
        Action<TOptions>? configure,
        Func<TOptions, string?> getError,
        Func<TOptions, TService> create,
        string withoutServices)
        where TService : class
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services ?? throw new InvalidOperationException(withoutServices);
        var options = services.AddSafeAIOptions<TOptions>(sectionName);

        // One validator per options type, however often the store is registered (the instance's type is the key).
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>>(new Validator<TOptions>(getError)));
        if (configure is not null)
        {
            _ = options.Configure(configure);
        }

        services.RemoveAll<TService>();
        services.AddSingleton(sp => create(sp.GetRequiredService<IOptions<TOptions>>().Value));
        return builder;
    }

    private sealed class Validator<TOptions>(Func<TOptions, string?> getError) : IValidateOptions<TOptions>
        where TOptions : class
    {
        public ValidateOptionsResult Validate(string? name, TOptions options) =>
            getError(options) is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
    }
}

using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using SafeAI.AspNetCore;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds SafeAI's per-request middleware.</summary>
public static class SafeAIApplicationBuilderExtensions
{
    /// <summary>
    /// Adds the SafeAI middleware: each request gets an ambient <see cref="SafeAI.SafeAICallContext"/> built from the
    /// request (so every SafeAI call made while handling it knows the user, tenant, conversation and locale), and
    /// SafeAI's rejection exceptions become <c>429</c> (with <c>Retry-After</c>) and <c>422</c> problem responses.
    /// Place it after authentication.
    /// </summary>
    /// <param name="app">The application builder.</param>
    /// <param name="configure">Changes the settings.</param>
    /// <returns>The application builder.</returns>
    public static IApplicationBuilder UseSafeAI(this IApplicationBuilder app, Action<SafeAIAspNetCoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = new SafeAIAspNetCoreOptions();
        configure?.Invoke(options);
        return app.UseMiddleware<SafeAIMiddleware>(Microsoft.Extensions.Options.Options.Create(options));
    }
}

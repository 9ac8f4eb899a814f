using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SafeAI.AspNetCore;

/// <summary>The logger every SafeAI endpoint writes to (category <c>SafeAI.AspNetCore</c>), or none when the host has no logging.</summary>
internal static class EndpointLogging
{
    public const string Category = "SafeAI.AspNetCore";

    public static ILogger For(IServiceProvider services) =>
        services.GetService<ILoggerFactory>()?.CreateLogger(Category) ?? NullLogger.Instance;
}

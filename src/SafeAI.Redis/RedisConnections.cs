using StackExchange.Redis;

namespace SafeAI.Redis;

/// <summary>The connection settings SafeAI's Redis stores share: fail on time rather than on the first connect.</summary>
internal static class RedisConnections
{
    /// <summary>Parses a StackExchange.Redis configuration string and sets the stores' timeouts on it.</summary>
    /// <param name="configuration">The configuration string.</param>
    /// <param name="connectTimeout">How long connecting may take.</param>
    /// <param name="commandTimeout">How long one command may take.</param>
    /// <returns>The options to connect with.</returns>
    public static ConfigurationOptions Options(string configuration, TimeSpan connectTimeout, TimeSpan commandTimeout)
    {
        var options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = (int)connectTimeout.TotalMilliseconds;
        options.SyncTimeout = (int)commandTimeout.TotalMilliseconds;
        options.AsyncTimeout = (int)commandTimeout.TotalMilliseconds;
        options.ConnectRetry = 1;
        return options;
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace SafeAI.Redis.Tests;

/// <summary>A real redis-server on 127.0.0.1, on a free port and a temporary folder, stopped when disposed.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    public const string InstallHint = "redis-server not found: apt-get install -y redis-server";

    private readonly Process _process;
    private readonly string _directory;

    private RedisServer(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    public string Configuration => $"127.0.0.1:{Port}";

    public static string? FindExecutable()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator).Append("/usr/bin").Append("/usr/sbin"))
        {
            var candidate = Path.Combine(dir, "redis-server");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts a server; on <paramref name="port"/> when given (to restart one on the port its clients know), else on a free port.</summary>
    public static async Task<RedisServer> StartAsync(string executable, int? port = null)
    {
        var directory = Directory.CreateTempSubdirectory("safeai-redis-").FullName;
        var serverPort = port ?? FreePort();
        var info = new ProcessStartInfo(executable)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--port", serverPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", string.Empty, "--appendonly", "no", "--dir", directory })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start.");
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new RedisServer(process, directory, serverPort);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"redis-server exited with code {process.ExitCode}.");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, serverPort);
                return server;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }

        await server.DisposeAsync();
        throw new TimeoutException("redis-server did not accept connections within 10 seconds.");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>One redis-server shared by the tests of a class.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    public RedisServer? Server { get; private set; }

    public async ValueTask InitializeAsync()
    {
        if (RedisServer.FindExecutable() is { } executable)
        {
            Server = await RedisServer.StartAsync(executable);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
    }

    public RedisServer Require()
    {
        if (Server is null)
        {
            Assert.Skip(RedisServer.InstallHint);
        }

        return Server;
    }
}

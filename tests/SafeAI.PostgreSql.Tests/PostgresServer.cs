using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace SafeAI.PostgreSql.Tests;

/// <summary>
/// A throwaway PostgreSQL server on 127.0.0.1, a free port and a temp data folder, started from the Debian binaries
/// (<c>/usr/lib/postgresql/N/bin</c>) or PATH. As root it runs the server as the <c>postgres</c> user (PostgreSQL refuses root).
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    public const string InstallHint = "PostgreSQL not found: apt-get install -y postgresql";

    private readonly string _bin;
    private readonly string _root;
    private readonly bool _asPostgresUser;

    private PostgresServer(string bin, string root, bool asPostgresUser, int port)
    {
        _bin = bin;
        _root = root;
        _asPostgresUser = asPostgresUser;
        Port = port;
    }

    public int Port { get; }

    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres";

    private string DataDir => Path.Combine(_root, "data");

    public static string? FindBinDirectory()
    {
        if (Directory.Exists("/usr/lib/postgresql"))
        {
            foreach (var dir in Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0))
            {
                var bin = Path.Combine(dir, "bin");
                if (File.Exists(Path.Combine(bin, "initdb")) && File.Exists(Path.Combine(bin, "pg_ctl")))
                {
                    return bin;
                }
            }
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator))
        {
            if (dir.Length > 0 && File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl")))
            {
                return dir;
            }
        }

        return null;
    }

    public static async Task<PostgresServer> StartAsync(CancellationToken cancellationToken)
    {
        var bin = FindBinDirectory() ?? throw new InvalidOperationException(InstallHint);
        var asPostgresUser = Environment.UserName == "root";
        var root = Directory.CreateTempSubdirectory("safeai-pg-").FullName;
        if (asPostgresUser)
        {
            await RunAsync("chown", ["postgres:postgres", root], cancellationToken);
        }

        var server = new PostgresServer(bin, root, asPostgresUser, FreePort());
        try
        {
            await server.RunToolAsync("initdb", ["-D", server.DataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"], cancellationToken);
            await server.StartServerAsync(cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public Task StartServerAsync(CancellationToken cancellationToken) =>
        RunToolAsync("pg_ctl", ["-D", DataDir, "-l", Path.Combine(_root, "server.log"), "-w", "-t", "60", "-o", $"-p {Port} -k {_root} -c listen_addresses=127.0.0.1 -c max_connections=100", "start"], cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) =>
        RunToolAsync("pg_ctl", ["-D", DataDir, "-m", "immediate", "-w", "-t", "60", "stop"], cancellationToken);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync(CancellationToken.None);
        }
        catch (InvalidOperationException)
        {
            // Already stopped.
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private Task RunToolAsync(string tool, IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        var exe = Path.Combine(_bin, tool);
        return _asPostgresUser ? RunAsync("runuser", ["-u", "postgres", "--", exe, .. args], cancellationToken) : RunAsync(exe, args, cancellationToken);
    }

    private static async Task RunAsync(string fileName, IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Path.GetTempPath() };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(fileName)} {string.Join(' ', args)} failed ({process.ExitCode}): {await stdout} {await stderr}");
        }
    }
}

/// <summary>One server shared by the tests of a class; each test uses its own schema.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public PostgresServer? Server { get; private set; }

    public string? SkipReason { get; private set; }

    public async ValueTask InitializeAsync()
    {
        if (PostgresServer.FindBinDirectory() is null)
        {
            SkipReason = PostgresServer.InstallHint;
            return;
        }

        Server = await PostgresServer.StartAsync(CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
    }

    public string ConnectionString
    {
        get
        {
            if (SkipReason is not null)
            {
                Assert.Skip(SkipReason);
            }

            return Server!.ConnectionString;
        }
    }
}

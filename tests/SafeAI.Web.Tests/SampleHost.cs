using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using SafeAI.Samples.Web;

namespace SafeAI.Web.Tests;

/// <summary>The web sample hosted in-process on a free 127.0.0.1 port, with its SQLite file in a temp folder.</summary>
public sealed class SampleHost : IAsyncDisposable
{
    private SampleHost(WebApplication app, string dataDirectory, Uri address)
    {
        App = app;
        DataDirectory = dataDirectory;
        Address = address;
    }

    public WebApplication App { get; }

    public string DataDirectory { get; }

    public string DatabasePath => Path.Combine(DataDirectory, "safeai-sample.db");

    public Uri Address { get; }

    /// <summary>Starts the sample. Every conversation gets the AI arm of the sample's rollout unless <paramref name="settings"/> set <c>--Sample:AssistantSharePercent</c> (later settings win).</summary>
    public static Task<SampleHost> StartAsync(CancellationToken cancellationToken, params string[] settings) =>
        StartAsync(static _ => { }, cancellationToken, settings);

    /// <summary>Starts the sample with <paramref name="configure"/> run on the built app before it starts (to map an endpoint of the test's own).</summary>
    public static async Task<SampleHost> StartAsync(Action<WebApplication> configure, CancellationToken cancellationToken, params string[] settings)
    {
        var data = Directory.CreateTempSubdirectory("safeai-web-").FullName;
        var app = SampleApp.Build(["--urls=http://127.0.0.1:0", "--Sample:DataDirectory=" + data, "--Logging:LogLevel:Default=Warning", "--environment=Production", "--Sample:AssistantSharePercent=100", .. settings]);
        configure(app);
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new SampleHost(app, data, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync(CancellationToken.None);
        await App.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

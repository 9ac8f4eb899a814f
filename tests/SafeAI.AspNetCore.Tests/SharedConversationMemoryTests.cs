using Microsoft.Extensions.AI;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace SafeAI.AspNetCore.Tests;

/// <summary>
/// The disclosure stage's memory of conversations shown the AI notice, shared between two app instances through the
/// distributed cache they both use (the ASP.NET Core shared framework's in-memory <see cref="IDistributedCache"/>).
/// </summary>
public sealed class SharedConversationMemoryTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AddAIDisclosure_DistributedCacheRegistered_ConversationGreetedByOneInstanceIsKnownToTheOther()
    {
        var cache = new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions()));
        await using var first = Instance(cache);
        await using var second = Instance(cache);
        await using var unshared = Instance(cache: null);
        var notice = new AIDisclosureOptions().NoticeText;
        var options = new ChatOptions().WithConversation("conv-shared");

        var greeted = await first.GetRequiredService<IChatClient>().GetResponseAsync("What are your opening hours?", options, Ct);
        var elsewhere = await second.GetRequiredService<IChatClient>().GetResponseAsync("What are your opening hours?", options, Ct);
        var alone = await unshared.GetRequiredService<IChatClient>().GetResponseAsync("What are your opening hours?", options, Ct);

        Assert.StartsWith(notice, greeted.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(notice, elsewhere.Text, StringComparison.Ordinal);
        Assert.StartsWith(notice, alone.Text, StringComparison.Ordinal);
        Assert.NotNull(await cache.GetAsync("SafeAI:disclosure:seen:conv-shared", Ct));
    }

    private static ServiceProvider Instance(IDistributedCache? cache)
    {
        var services = new ServiceCollection();
        if (cache is not null)
        {
            services.AddSingleton(cache);
        }

        services.AddSafeAI(safe => safe.AddAIDisclosure());
        services.AddChatClient(FaqChatClient.CreateDemo()).UseSafeAI();
        return services.BuildServiceProvider();
    }
}

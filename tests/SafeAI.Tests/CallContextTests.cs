namespace SafeAI.Tests;

public class CallContextTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static (IChatClient Client, List<SafeAICallContext> Seen) Capturing()
    {
        var seen = new List<SafeAICallContext>();
        var client = TestChatClient.Answering("ok").AsBuilder().UseSafeAI(safe => safe.AddInputCheck("capture", (ctx, _) =>
        {
            // Concurrent calls add at once (AmbientScope_FlowsIntoConcurrentCallsIndependently); List<T> is not thread-safe.
            lock (seen)
            {
                seen.Add(ctx.CallContext);
            }

            return ValueTask.FromResult(GuardVerdict.Allow("capture"));
        })).Build();
        return (client, seen);
    }

    [Fact]
    public async Task ChatOptionsExtensions_SetUserTenantConversationRiskLocale_StagesSeeThem()
    {
        var (client, seen) = Capturing();
        var options = new ChatOptions().WithUser("u1").WithTenant("t1").WithConversation("c1").WithRiskTier(RiskTier.High).WithLocale("fr-FR").WithApiKeyId("k1");

        await client.GetResponseAsync("hi", options, Ct);

        var ctx = Assert.Single(seen);
        Assert.Equal(("u1", "t1", "c1", RiskTier.High, "fr-FR", "k1"), (ctx.UserId, ctx.TenantId, ctx.ConversationId, ctx.RiskTier, ctx.Locale, ctx.ApiKeyId));
    }

    [Fact]
    public async Task AmbientScope_FillsGapsLeftByOptions_AndRestoresPreviousOnDispose()
    {
        var (client, seen) = Capturing();
        using (SafeAICallContextAccessor.BeginScope(new SafeAICallContext { UserId = "ambient-user", TenantId = "ambient-tenant", RiskTier = RiskTier.Low }))
        {
            await client.GetResponseAsync("hi", new ChatOptions().WithUser("explicit-user"), Ct);
        }

        Assert.Null(SafeAICallContextAccessor.Current);
        var ctx = Assert.Single(seen);
        Assert.Equal("explicit-user", ctx.UserId);
        Assert.Equal("ambient-tenant", ctx.TenantId);
        Assert.Equal(RiskTier.Low, ctx.RiskTier);
    }

    [Fact]
    public async Task NoContextAnywhere_EmptyContextWithProviderConversationId()
    {
        var (client, seen) = Capturing();

        await client.GetResponseAsync("hi", new ChatOptions { ConversationId = "provider-conv" }, Ct);
        await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal("provider-conv", seen[0].ConversationId);
        Assert.Same(SafeAICallContext.Empty, seen[1]);
    }

    [Fact]
    public async Task AmbientScope_FlowsIntoConcurrentCallsIndependently()
    {
        var (client, seen) = Capturing();

        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(
            async () =>
            {
                using var scope = SafeAICallContextAccessor.BeginScope(new SafeAICallContext { UserId = $"u{i}" });
                await Task.Yield();
                await client.GetResponseAsync($"{i}", cancellationToken: Ct);
            },
            Ct)));

        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"u{i}").Order(), seen.Select(c => c.UserId!).Order());
    }

    [Fact]
    public void WithSafeAIContext_DoesNotTouchOtherAdditionalProperties()
    {
        var options = new ChatOptions { AdditionalProperties = new() { ["x"] = 1 } }.WithUser("u");

        Assert.Equal(1, options.AdditionalProperties!["x"]);
        Assert.Equal("u", options.GetSafeAIContext()!.UserId);
    }

    [Fact]
    public void Extensions_BadArguments_Throw()
    {
        Assert.Throws<ArgumentException>(() => new ChatOptions().WithUser(""));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChatOptions().WithRiskTier((RiskTier)42));
        Assert.Throws<ArgumentNullException>(() => SafeAIChatOptionsExtensions.WithUser(null!, "u"));
    }

    [Fact]
    public void HasConsent_CaseInsensitive()
    {
        var ctx = new SafeAICallContext { Consents = new HashSet<string> { "AI-Interaction" } };

        Assert.True(ctx.HasConsent("ai-interaction"));
        Assert.False(ctx.HasConsent("training"));
    }
}

using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Tests.RateLimiting;

internal static class RateLimitingTestHelpers
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static IChatClient Build(IChatClient inner, FakeTimeProvider time, Action<RateLimitingOptions> configure, Action<SafeAIOptions>? pipeline = null) =>
        inner.AsBuilder().UseSafeAI(safe =>
        {
            safe.UseTimeProvider(time).Configure(o => o.RecordAllowVerdicts = true).AddRateLimiting(configure);
            if (pipeline is not null)
            {
                safe.Configure(pipeline);
            }
        }).Build();

    public static ChatOptions User(string id) => new ChatOptions().WithUser(id);

    public static Task<ChatResponse> AskAsync(this IChatClient client, string user, string text = "hello") =>
        client.GetResponseAsync(text, User(user), Ct);

    public static GuardVerdict RateVerdict(this ChatResponse response) =>
        response.GetSafeAIResult()!.Verdicts.Single(v => v.Stage == "rate-limit");

    public static ChatResponse WithUsage(string text, long total) =>
        new(new ChatMessage(ChatRole.Assistant, text)) { Usage = new UsageDetails { TotalTokenCount = total } };
}

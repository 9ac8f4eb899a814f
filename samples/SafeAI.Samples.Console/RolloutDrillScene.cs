using Microsoft.Extensions.AI;

namespace SafeAI.Samples.ConsoleApp;

/// <summary>
/// A rollback drill, offline and deterministic: a new assistant is rolled out to 5 % of users with the FAQ responder as
/// the baseline; the kill switch is practised (everyone to the baseline, then back); then the new assistant's answers
/// draw many thumbs-down and the judge aborts the rollout on its own, sending every user back to the baseline.
/// </summary>
internal static class RolloutDrillScene
{
    public static async Task RunAsync(CancellationToken cancellationToken)
    {
        var rollout = new RolloutController(new RolloutPlanOptions(), name: "assistant-v2");
        using var model = new NewAssistantClient();
        using var chat = model.AsBuilder()
            .UseSafeAI(safe => safe.AddRollout(o =>
            {
                o.Controller = rollout;
                o.Baseline = RolloutBaseline.FromClient(FaqChatClient.CreateDemo());
                o.CanaryGroup.Add("staff-1");
            }))
            .Build();
        var pipeline = chat.GetService<SafeAIPipeline>()!;

        async Task<RolloutArm?> AskAsync(string user, bool show)
        {
            const string question = "How do I reset my password?";
            var response = await chat.GetResponseAsync(question, new ChatOptions().WithUser(user), cancellationToken);
            var arm = response.GetSafeAIResult()?.GetRolloutArm();
            if (show)
            {
                Transcript.User($"{question} ({user})");
                Transcript.Assistant(response.Text);
                Transcript.Note($"arm: {arm}");
            }

            return arm;
        }

        await AskAsync("staff-1", show: true);
        await AskAsync("u-1001", show: true);
        var ai = 0;
        for (var i = 0; i < 2000; i++)
        {
            ai += await AskAsync($"u-{i}", show: false) == RolloutArm.AI ? 1 : 0;
        }

        Transcript.Note($"stage {rollout.CurrentPercent} %: {ai} of 2,000 users got the new assistant (sticky: the same users every time)");

        Transcript.Note("drill 1, the kill switch: rollout.Stop(...)");
        rollout.Stop("rollback drill");
        Transcript.Note($"after the stop, staff-1 gets the {await AskAsync("staff-1", show: false)} arm; the AI arm gets {rollout.CurrentPercent} %");
        rollout.Resume("drill over");
        Transcript.Note($"after resume, staff-1 gets the {await AskAsync("staff-1", show: false)} arm again");

        Transcript.Note("drill 2, automatic rollback: a thumbs-down on 1 in 3 new-assistant answers vs 1 in 20 FAQ answers");
        for (var i = 0; i < 2000; i++)
        {
            var user = new SafeAICallContext { UserId = $"u-{i}" };
            var arm = await AskAsync(user.UserId!, show: false);
            if ((arm == RolloutArm.AI && i % 3 == 0) || (arm == RolloutArm.Baseline && i % 20 == 0))
            {
                pipeline.RecordRolloutOutcome(user, RolloutMetrics.ThumbsDown);
            }
        }

        var decision = rollout.Evaluate();
        Transcript.Note($"judge: {decision.Kind}: {decision.Reason}");
        Transcript.Note($"the new assistant now gets {rollout.CurrentPercent} % of users; u-1001 and staff-1 get the {await AskAsync("u-1001", show: false)} and {await AskAsync("staff-1", show: false)} arms");
    }

    /// <summary>The new assistant being rolled out (offline stand-in for a model).</summary>
    private sealed class NewAssistantClient : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(Answer());

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            Answer().ToChatResponseUpdates().ToAsyncEnumerable();

        private static ChatResponse Answer() =>
            new(new ChatMessage(ChatRole.Assistant, "New assistant: open Settings, choose Security, then Reset password.")) { ModelId = "assistant-v2" };

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}

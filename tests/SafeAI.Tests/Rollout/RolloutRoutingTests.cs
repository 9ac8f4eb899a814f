using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Tests.Rollout;

public class RolloutRoutingTests
{
    private static readonly CancellationToken Ct = CancellationToken.None;

    private static (IChatClient Client, RolloutController Controller, TestChatClient Inner, TestChatClient Baseline) Build(
        Action<RolloutOptions>? configure = null, RolloutController? controller = null, Action<SafeAIPipelineBuilder>? more = null)
    {
        var inner = TestChatClient.Answering("AI answer.");
        var baseline = TestChatClient.Answering("FAQ answer.");
        controller ??= new RolloutController(new RolloutPlanOptions(), name: "exp-1");
        var client = inner.AsBuilder().UseSafeAI(safe =>
        {
            safe.AddRollout(o =>
            {
                o.Controller = controller;
                o.Baseline = RolloutBaseline.FromClient(baseline);
                configure?.Invoke(o);
            });
            more?.Invoke(safe);
        }).Build();
        return (client, controller, inner, baseline);
    }

    private static ChatOptions User(string id) => new ChatOptions().WithUser(id);

    [Fact]
    public async Task GetResponseAsync_SameUserAcrossInstancesAndRestarts_AlwaysSameArm()
    {
        var first = Build();
        var second = Build(); // another instance (or the same one after a restart): fresh controller, same salt
        for (var i = 0; i < 400; i++)
        {
            var a = (await first.Client.GetResponseAsync("q", User($"u-{i}"), Ct)).GetSafeAIResult()!.GetRolloutArm();
            var again = (await first.Client.GetResponseAsync("q", User($"u-{i}"), Ct)).GetSafeAIResult()!.GetRolloutArm();
            var b = (await second.Client.GetResponseAsync("q", User($"u-{i}"), Ct)).GetSafeAIResult()!.GetRolloutArm();
            Assert.Equal(a, again);
            Assert.Equal(a, b);
        }
    }

    [Fact]
    public void Compute_PinnedKey_GivesTheSameBucketInEveryRelease()
    {
        // SHA-256("user-42\nexp-1"), first four bytes little-endian, scaled to [0, 100): changing this moves people between arms.
        Assert.Equal(RolloutBucketing.Compute("user-42", "exp-1"), new RolloutBucketing("exp-1").GetBucket("user-42"));
        Assert.Equal(PinnedUser42, RolloutBucketing.Compute("user-42", "exp-1"), 1e-12);
        Assert.NotEqual(RolloutBucketing.Compute("user-42", "exp-1"), RolloutBucketing.Compute("user-42", "exp-2"));
    }

    [Theory]
    [InlineData(5.0)]
    [InlineData(10.0)]
    [InlineData(25.0)]
    [InlineData(50.0)]
    public void GetBucket_HundredThousandUsers_ShareWithinOnePointOfTarget(double percent)
    {
        var buckets = new RolloutBucketing("exp-1");
        var ai = 0;
        for (var i = 0; i < 100_000; i++)
        {
            ai += buckets.GetBucket("user-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)) < percent ? 1 : 0;
        }

        var share = ai / 1000.0;
        Assert.InRange(share, percent - 1, percent + 1);

        // And no worse than chance: the split passes a chi-square test at 0.001.
        var (_, p) = SafeAI.Statistics.SampleRatioTest.Test(ai, 100_000 - ai, percent / 100);
        Assert.True(p > 0.001, $"split {share} % at target {percent} % has p = {p}");
    }

    [Fact]
    public async Task GetResponseAsync_TenPercentStage_RoutesAboutTenPercentAndCountsExposures()
    {
        var plan = new RolloutPlanOptions();
        plan.Stages.Add(new RolloutStage(10, 0.25));
        plan.Stages.Add(new RolloutStage(100, 0));
        var (client, controller, inner, baseline) = Build(controller: new RolloutController(plan, name: "exp-1"));
        for (var i = 0; i < 5000; i++)
        {
            await client.GetResponseAsync("q", User($"u-{i}"), Ct);
        }

        var (aiCalls, _) = controller.GetCounts(RolloutArm.AI, RolloutMetrics.Errors);
        var (baselineCalls, _) = controller.GetCounts(RolloutArm.Baseline, RolloutMetrics.Errors);
        Assert.Equal(5000, aiCalls + baselineCalls);
        Assert.Equal(aiCalls, inner.Calls);
        Assert.Equal(baselineCalls, baseline.Calls);
        Assert.InRange(aiCalls, 400, 600);
    }

    [Fact]
    public async Task GetResponseAsync_Arm_IsOnTheCallContextResultAndDisclosure()
    {
        string? seenInAIArm = null;
        var (client, _, _, _) = Build(
            o => o.CanaryGroup.Add("staff-1"),
            more: safe => safe.AddInputCheck("probe", (ctx, _) =>
            {
                seenInAIArm = ctx.CallContext.RolloutArm;
                return ValueTask.FromResult(GuardVerdict.Allow("probe"));
            }).AddAIDisclosure());

        var ai = await client.GetResponseAsync("q", User("staff-1"), Ct);
        var baseline = await client.GetResponseAsync("q", new ChatOptions(), Ct); // no user id: baseline, uncounted

        Assert.Equal("ai", seenInAIArm);
        Assert.Equal(RolloutArm.AI, ai.GetSafeAIResult()!.GetRolloutArm());
        Assert.True(ai.GetSafeAIResult()!.TryGetVerdict("rollout", out var verdict));
        Assert.Equal("canary", verdict.Detail);
        Assert.Equal("FAQ answer.", baseline.Text);
        Assert.Equal(RolloutArm.Baseline, baseline.GetSafeAIResult()!.GetRolloutArm());
        Assert.Equal(AIDisclosureMode.None, baseline.GetAIDisclosure()!.Mode);
        Assert.Equal(AIDisclosureMode.MachineGenerated, ai.GetAIDisclosure()!.Mode);
    }

    [Fact]
    public async Task GetResponseAsync_ListsAndSegments_OverrideTheBucketAndAreNotCounted()
    {
        var (client, controller, inner, _) = Build(o =>
        {
            o.CanaryGroup.Add("staff-1");
            o.DenyList.Add("vip-1");
            o.ExcludedRiskTiers.Add(RiskTier.High);
        });

        var canary = await client.GetResponseAsync("q", User("staff-1"), Ct);
        var denied = await client.GetResponseAsync("q", User("vip-1"), Ct);
        var highRisk = await client.GetResponseAsync("q", User("staff-1").WithRiskTier(RiskTier.High), Ct);

        Assert.Equal("AI answer.", canary.Text);
        Assert.Equal("FAQ answer.", denied.Text);
        Assert.Equal("FAQ answer.", highRisk.Text);
        Assert.Equal(1, inner.Calls);
        Assert.Equal((0L, 0L), controller.GetCounts(RolloutArm.AI, RolloutMetrics.Errors));
        Assert.Equal((0L, 0L), controller.GetCounts(RolloutArm.Baseline, RolloutMetrics.Errors));
    }

    [Fact]
    public async Task Stop_KillSwitchCall_SendsEveryoneIncludingCanaryToBaselineUntilResumed()
    {
        var (client, controller, inner, _) = Build(o => o.CanaryGroup.Add("staff-1"));
        Assert.Equal("AI answer.", (await client.GetResponseAsync("q", User("staff-1"), Ct)).Text);

        controller.Stop("incident 42");
        for (var i = 0; i < 200; i++)
        {
            Assert.Equal("FAQ answer.", (await client.GetResponseAsync("q", User($"u-{i}"), Ct)).Text);
        }

        Assert.Equal("FAQ answer.", (await client.GetResponseAsync("q", User("staff-1"), Ct)).Text);
        Assert.Equal(1, inner.Calls);

        controller.Resume("fixed");
        Assert.Equal("AI answer.", (await client.GetResponseAsync("q", User("staff-1"), Ct)).Text);
    }

    [Fact]
    public async Task GetResponseAsync_KillSwitchFromConfiguration_AllTrafficToBaselineAtOnce()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["SafeAI:Rollout:KillSwitch"] = "false" }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        var baseline = TestChatClient.Answering("FAQ answer.");
        services.AddSafeAI(safe => safe.AddRollout(o =>
        {
            o.Baseline = RolloutBaseline.FromClient(baseline);
            o.CanaryGroup.Add("staff-1");
        }));
        services.AddChatClient(TestChatClient.Answering("AI answer.")).UseSafeAI();
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IChatClient>();
        Assert.NotNull(provider.GetRequiredService<RolloutController>());

        var before = await client.GetResponseAsync("q", User("staff-1"), Ct);
        configuration["SafeAI:Rollout:KillSwitch"] = "true";
        configuration.Reload();
        var during = await client.GetResponseAsync("q", User("staff-1"), Ct);
        var streamed = await client.GetStreamingResponseAsync("q", User("staff-1"), Ct).ToChatResponseAsync(Ct);

        configuration["SafeAI:Rollout:KillSwitch"] = "false";
        configuration.Reload();
        var after = await client.GetResponseAsync("q", User("staff-1"), Ct);

        Assert.Equal("AI answer.", before.Text);
        Assert.Equal("FAQ answer.", during.Text);
        Assert.Equal("FAQ answer.", streamed.Text);
        Assert.Equal("AI answer.", after.Text);
    }

    [Fact]
    public async Task GetResponseAsync_KillSwitchOnAtStartFromConfiguration_ReleasedByConfiguration()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["SafeAI:Rollout:KillSwitch"] = "true" }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSafeAI(safe => safe.AddRollout(o => o.CanaryGroup.Add("staff-1")));
        services.AddChatClient(TestChatClient.Answering("AI answer.")).UseSafeAI();
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IChatClient>();

        var during = await client.GetResponseAsync("q", User("staff-1"), Ct);
        configuration["SafeAI:Rollout:KillSwitch"] = "false";
        configuration.Reload();
        var after = await client.GetResponseAsync("q", User("staff-1"), Ct);

        Assert.NotEqual("AI answer.", during.Text); // the default baseline: a polite decline
        Assert.Equal(RolloutArm.Baseline, during.GetSafeAIResult()!.GetRolloutArm());
        Assert.Equal("AI answer.", after.Text);
    }

    [Fact]
    public async Task Evaluate_AbortAfterDegradation_RollsEveryCallBackToBaseline()
    {
        var time = new FakeTimeProvider();
        var plan = new RolloutPlanOptions { MinSamplesToAbort = 50 };
        plan.Stages.Add(new RolloutStage(50, 0.1));
        plan.Stages.Add(new RolloutStage(100, 0));
        var controller = new RolloutController(plan, time, name: "exp-1");
        var (client, _, _, _) = Build(controller: controller);
        for (var i = 0; i < 400; i++)
        {
            await client.GetResponseAsync("q", User($"u-{i}"), Ct);
        }

        // Feedback: thumbs-down on 30 % of AI answers, 5 % of baseline answers.
        var (ai, _) = controller.GetCounts(RolloutArm.AI, RolloutMetrics.ThumbsDown);
        var (baseline, _) = controller.GetCounts(RolloutArm.Baseline, RolloutMetrics.ThumbsDown);
        controller.RecordOutcome(RolloutArm.AI, RolloutMetrics.ThumbsDown, ai * 30 / 100);
        controller.RecordOutcome(RolloutArm.Baseline, RolloutMetrics.ThumbsDown, baseline * 5 / 100);

        var decision = controller.Evaluate();

        Assert.Equal(RolloutDecisionKind.Abort, decision.Kind);
        Assert.Equal(0, decision.PercentAfter);
        var thumbs = Assert.Single(decision.Metrics, m => m.Metric == RolloutMetrics.ThumbsDown);
        Assert.True(thumbs.Degraded);
        Assert.True(thumbs.Lower > 0);
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal("FAQ answer.", (await client.GetResponseAsync("q", User($"u-{i}"), Ct)).Text);
        }
    }

    [Fact]
    public async Task GetResponseAsync_FallbackInAIArm_CountedAsFallbackOfTheAIArm()
    {
        var failing = new TestChatClient { GetResponseAsyncCallback = (_, _, _) => throw new HttpRequestException("down") };
        var controller = new RolloutController(new RolloutPlanOptions(), name: "exp-1");
        var client = failing.AsBuilder().UseSafeAI(safe => safe
            .AddRollout(o => { o.Controller = controller; o.Baseline = RolloutBaseline.Decline("Not yet."); })
            .AddFallback(o => o.Add(ChatFallback.Static("Sorry, try later.")))).Build();

        var aiUsers = 0;
        for (var i = 0; i < 300; i++)
        {
            var r = await client.GetResponseAsync("q", User($"u-{i}"), Ct);
            aiUsers += r.GetSafeAIResult()!.GetRolloutArm() == RolloutArm.AI ? 1 : 0;
        }

        Assert.True(aiUsers > 0);
        Assert.Equal((aiUsers, aiUsers), controller.GetCounts(RolloutArm.AI, RolloutMetrics.Fallbacks));
        Assert.Equal(0, controller.GetCounts(RolloutArm.Baseline, RolloutMetrics.Fallbacks).Events);
    }

    [Fact]
    public async Task GetResponseAsync_RoutineCallsOfOneArm_ShareOneImmutableResult()
    {
        var (client, _, _, _) = Build(o => { o.CanaryGroup.Add("staff-1"); o.CanaryGroup.Add("staff-2"); o.DenyList.Add("vip-1"); });
        var first = (await client.GetResponseAsync("q", User("staff-1"), Ct)).GetSafeAIResult()!;
        var second = (await client.GetResponseAsync("q", User("staff-2"), Ct)).GetSafeAIResult()!;
        var denied = (await client.GetResponseAsync("q", User("vip-1"), Ct)).GetSafeAIResult()!;

        Assert.Same(first, second); // no result allocated per call on the success path
        Assert.Equal(RolloutArm.AI, first.GetRolloutArm());
        Assert.Equal(RolloutArm.Baseline, denied.GetRolloutArm());
        Assert.True(denied.TryGetVerdict("rollout", out var verdict));
        Assert.Equal("deny", verdict.Detail);
    }

    [Fact]
    public async Task RecordRolloutOutcome_ThumbsDownByUser_CountedInThatUsersArmOnly()
    {
        var (client, controller, _, _) = Build(o => o.CanaryGroup.Add("staff-1"));
        var pipeline = client.GetService<SafeAIPipeline>()!;
        string? aiUser = null, baselineUser = null;
        for (var i = 0; aiUser is null || baselineUser is null; i++)
        {
            var id = $"u-{i}";
            var arm = (await client.GetResponseAsync("q", User(id), Ct)).GetSafeAIResult()!.GetRolloutArm();
            if (arm == RolloutArm.AI)
            {
                aiUser ??= id;
            }
            else
            {
                baselineUser ??= id;
            }
        }

        Assert.True(pipeline.RecordRolloutOutcome(new SafeAICallContext { UserId = aiUser }, RolloutMetrics.ThumbsDown));
        Assert.True(pipeline.RecordRolloutOutcome(new SafeAICallContext { UserId = baselineUser }, RolloutMetrics.ThumbsDown, 2));
        Assert.False(pipeline.RecordRolloutOutcome(new SafeAICallContext { UserId = "staff-1" }, RolloutMetrics.ThumbsDown));
        Assert.False(pipeline.RecordRolloutOutcome(SafeAICallContext.Empty, RolloutMetrics.ThumbsDown));

        Assert.Equal(1, controller.GetCounts(RolloutArm.AI, RolloutMetrics.ThumbsDown).Events);
        Assert.Equal(2, controller.GetCounts(RolloutArm.Baseline, RolloutMetrics.ThumbsDown).Events);
        Assert.Throws<ArgumentException>(() => pipeline.RecordRolloutOutcome(new SafeAICallContext { UserId = aiUser }, "conversion"));
    }

    [Fact]
    public async Task GetStreamingResponseAsync_BothArms_StreamTheirAnswers()
    {
        var (client, _, _, _) = Build(o => { o.CanaryGroup.Add("staff-1"); o.DenyList.Add("vip-1"); });
        var ai = await client.GetStreamingResponseAsync("q", User("staff-1"), Ct).ToChatResponseAsync(Ct);
        var baseline = await client.GetStreamingResponseAsync("q", User("vip-1"), Ct).ToChatResponseAsync(Ct);
        Assert.Equal("AI answer.", ai.Text);
        Assert.Equal("FAQ answer.", baseline.Text);
    }

    [Fact]
    public void AddRollout_InvalidPlan_ThrowsWithEveryProblemNamed()
    {
        var ex = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => new SafeAIPipelineBuilder().AddRollout(o =>
        {
            o.Plan.Alpha = 2;
            o.Plan.Stages.Add(new RolloutStage(50, 0.1));
            o.Plan.Stages.Add(new RolloutStage(10, 0.1));
        }));
        Assert.Contains("Alpha", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Stages[1].Percent", ex.Message, StringComparison.Ordinal);
    }

    private const double PinnedUser42 = 62.534953048452735; // checked with Python: struct.unpack('<I', sha256(b'user-42\nexp-1').digest()[:4])[0] / 2**32 * 100
}

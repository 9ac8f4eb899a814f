using System.Globalization;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.AI;

namespace SafeAI.Benchmarks;

/// <summary>
/// The rollout routing stage alone at a 50 % stage, against the empty pipeline: a returning user in the AI arm (bucket
/// from the cache), a returning user in the baseline arm (answered by a non-AI client), and a new user on every call
/// (a SHA-256 per call). Overhead per call = Mean − Mean of "empty pipeline"; "one no-op stage" shows what any stage costs
/// the pipeline before doing anything.
/// </summary>
[MemoryDiagnoser]
public class RolloutBenchmarks
{
    private const string Salt = "benchmark-rollout";
    private static readonly List<ChatMessage> Messages = BenchmarkInputs.Conversation;
    private ChatOptions[] _options = [];
    private int _next;

    [Params("empty pipeline", "one no-op stage", "rollout, AI arm", "rollout, baseline arm", "rollout, new user each call")]
    public string Case { get; set; } = "";

    private IChatClient Client { get; set; } = null!;

    [GlobalSetup]
    public void Setup()
    {
        var inner = new InstantChatClient(16);
        var plan = new RolloutPlanOptions();
        plan.Stages.Add(new RolloutStage(50, 0.1));
        plan.Stages.Add(new RolloutStage(100, 0));
        var controller = new RolloutController(plan, name: Salt);
        Client = Case == "empty pipeline" ? inner.AsBuilder().UseSafeAI(_ => { }).Build()
            : Case == "one no-op stage" ? inner.AsBuilder().UseSafeAI(safe => safe.Add(new NoOpGuard("no-op"))).Build()
            : inner.AsBuilder().UseSafeAI(safe => safe.AddRollout(o =>
            {
                o.Controller = controller;
                o.Baseline = RolloutBaseline.FromClient(new InstantChatClient(16));
            })).Build();

        string User(Func<double, bool> wanted)
        {
            for (var i = 0; ; i++)
            {
                var id = "u-" + i.ToString(CultureInfo.InvariantCulture);
                if (wanted(RolloutBucketing.Compute(id, Salt)))
                {
                    return id;
                }
            }
        }

        _options = Case switch
        {
            "rollout, baseline arm" => [new ChatOptions().WithUser(User(static b => b >= 50))],
            "rollout, new user each call" => [.. Enumerable.Range(0, 1 << 16).Select(i => new ChatOptions().WithUser("new-" + i.ToString(CultureInfo.InvariantCulture)))],
            _ => [new ChatOptions().WithUser(User(static b => b < 50))],
        };
    }

    [Benchmark]
    public Task<ChatResponse> Call()
    {
        var options = _options.Length == 1 ? _options[0] : _options[_next++ & ((1 << 16) - 1)];
        return Client.GetResponseAsync(Messages, options);
    }
}

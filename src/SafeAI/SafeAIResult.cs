using System.Collections;
using System.Text;

namespace SafeAI;

/// <summary>
/// The verdicts of one call, in the order the stages decided, and the call's overall <see cref="Outcome"/>.
/// Every response that passes through a <see cref="SafeAIChatClient"/> carries one: read it with
/// <see cref="SafeAIResultExtensions.GetSafeAIResult(Microsoft.Extensions.AI.ChatResponse)"/>.
/// </summary>
/// <remarks>Instances are immutable and safe to share between threads.</remarks>
public sealed class SafeAIResult : IReadOnlyList<GuardVerdict>
{
    /// <summary>The key under which the result is stored in <c>AdditionalProperties</c> of responses and updates.</summary>
    public const string PropertyKey = "safeai.result";

    private const int MaxInterned = 256;
    private const int RecentSlots = 64;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<GuardVerdict, SafeAIResult> s_interned = new();

    // A direct-mapped cache in front of s_interned, keyed by the identity of the verdict's strings: stages record their
    // verdicts with the same string instances call after call, so a hit costs two reference comparisons instead of
    // hashing and comparing the strings' characters.
    private static readonly SafeAIResult?[] s_recent = new SafeAIResult?[RecentSlots];
    private readonly GuardVerdict[] _verdicts;
    private readonly int _decisiveIndex;

    /// <summary>Initializes a new instance of the <see cref="SafeAIResult"/> class.</summary>
    /// <param name="verdicts">The verdicts, in decision order. The array is copied.</param>
    /// <exception cref="ArgumentNullException"><paramref name="verdicts"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A verdict is empty (<c>default</c>).</exception>
    public SafeAIResult(IEnumerable<GuardVerdict> verdicts)
        : this(Validate(verdicts))
    {
    }

    private SafeAIResult(GuardVerdict[] verdicts)
    {
        _verdicts = verdicts;
        _decisiveIndex = -1;
        var outcome = GuardAction.Allow;
        for (var i = 0; i < verdicts.Length; i++)
        {
            if (verdicts[i].Action > outcome)
            {
                outcome = verdicts[i].Action;
                _decisiveIndex = i;
            }
        }

        Outcome = outcome;
    }

    /// <summary>Gets a result with no verdicts (the call was allowed and no stage reported anything).</summary>
    public static SafeAIResult Empty { get; } = new(Array.Empty<GuardVerdict>());

    /// <summary>Gets the overall outcome: the most severe action of any verdict, or <see cref="GuardAction.Allow"/>.</summary>
    public GuardAction Outcome { get; }

    /// <summary>Gets a value indicating whether the call was rejected (<see cref="GuardAction.Block"/> or <see cref="GuardAction.Limit"/>).</summary>
    public bool IsRejected => Outcome >= GuardAction.Limit;

    /// <summary>Gets the verdict that decided the outcome (the first verdict with the most severe action), or <see langword="null"/> when every stage allowed the call.</summary>
    public GuardVerdict? DecisiveVerdict => _decisiveIndex >= 0 ? _verdicts[_decisiveIndex] : null;

    /// <summary>Gets when the caller may try again, when the call was rate limited.</summary>
    public TimeSpan? RetryAfter => Outcome == GuardAction.Limit ? _verdicts[_decisiveIndex].RetryAfter : null;

    /// <summary>Gets the verdicts as a list (this instance).</summary>
    public IReadOnlyList<GuardVerdict> Verdicts => this;

    /// <summary>Gets the number of verdicts.</summary>
    public int Count => _verdicts.Length;

    /// <summary>Gets the verdict at <paramref name="index"/>.</summary>
    /// <param name="index">The index.</param>
    /// <returns>The verdict.</returns>
    public GuardVerdict this[int index] => _verdicts[index];

    /// <summary>Finds the first verdict of a stage.</summary>
    /// <param name="stage">The stage name.</param>
    /// <param name="verdict">The verdict, when found.</param>
    /// <returns><see langword="true"/> when the stage reported a verdict.</returns>
    public bool TryGetVerdict(string stage, out GuardVerdict verdict)
    {
        foreach (var v in _verdicts)
        {
            if (string.Equals(v.Stage, stage, StringComparison.Ordinal))
            {
                verdict = v;
                return true;
            }
        }

        verdict = default;
        return false;
    }

    /// <summary>Gets a value indicating whether any verdict has the given action.</summary>
    /// <param name="action">The action.</param>
    /// <returns><see langword="true"/> when a verdict with that action exists.</returns>
    public bool Contains(GuardAction action)
    {
        foreach (var v in _verdicts)
        {
            if (v.Action == action)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Returns an enumerator over the verdicts; no allocation.</summary>
    /// <returns>The enumerator.</returns>
    public Enumerator GetEnumerator() => new(_verdicts);

    IEnumerator<GuardVerdict> IEnumerable<GuardVerdict>.GetEnumerator() => ((IEnumerable<GuardVerdict>)_verdicts).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _verdicts.GetEnumerator();

    /// <summary>Formats the outcome and one line per verdict.</summary>
    /// <returns>The text.</returns>
    public override string ToString()
    {
        var sb = new StringBuilder("SafeAI outcome: ").Append(GuardVerdict.GetActionName(Outcome));
        foreach (var v in _verdicts)
        {
            sb.AppendLine().Append("  ").Append(v.ToString());
        }

        return sb.ToString();
    }

    internal static SafeAIResult Create(ReadOnlySpan<GuardVerdict> verdicts) =>
        verdicts.IsEmpty ? Empty
        : verdicts.Length == 1 && IsInternable(verdicts[0]) ? Interned(verdicts[0])
        : new SafeAIResult(verdicts.ToArray());

    /// <summary>
    /// Gets a shared result for a call whose only recorded verdict is a plain, measurement-free Allow (such as the rollout
    /// stage's <c>rollout.ai</c>), so the common success path of such a pipeline allocates no result. Results are
    /// immutable, so sharing is safe; the table is bounded.
    /// </summary>
    private static SafeAIResult Interned(in GuardVerdict verdict)
    {
        var slot = RecentSlot(verdict);
        if (Volatile.Read(ref s_recent[slot]) is { } recent && IsSameInterned(recent._verdicts[0], verdict))
        {
            return recent;
        }

        if (!s_interned.TryGetValue(verdict, out var shared))
        {
            var created = new SafeAIResult([verdict]);
            if (s_interned.Count >= MaxInterned)
            {
                return created;
            }

            shared = s_interned.GetOrAdd(verdict, created);
        }

        Volatile.Write(ref s_recent[slot], shared);
        return shared;
    }

    private static int RecentSlot(in GuardVerdict v) =>
        (System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(v.Reason) ^
         (v.Detail is null ? 0 : System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(v.Detail) * 31) ^
         (int)v.Action) & (RecentSlots - 1);

    // Both verdicts are internable (Allow, no score, threshold, retry or elapsed time), so the strings decide.
    private static bool IsSameInterned(in GuardVerdict a, in GuardVerdict b) =>
        ReferenceEquals(a.Reason, b.Reason) && ReferenceEquals(a.Detail, b.Detail) && ReferenceEquals(a.Stage, b.Stage) && a.Action == b.Action;

    private static bool IsInternable(in GuardVerdict v) =>
        v.Action == GuardAction.Allow && v.Elapsed == TimeSpan.Zero && v.Score is null && v.Threshold is null && v.RetryAfter is null;

    internal static SafeAIResult Create(GuardVerdict[] verdicts) => verdicts.Length == 0 ? Empty : new SafeAIResult(verdicts);

    private static GuardVerdict[] Validate(IEnumerable<GuardVerdict> verdicts)
    {
        ArgumentNullException.ThrowIfNull(verdicts);
        var array = verdicts.ToArray();
        foreach (var v in array)
        {
            if (v.IsEmpty)
            {
                throw new ArgumentException("A SafeAIResult cannot hold an empty (default) verdict.", nameof(verdicts));
            }
        }

        return array;
    }

    /// <summary>Enumerates the verdicts of a <see cref="SafeAIResult"/> without allocating.</summary>
    public struct Enumerator
    {
        private readonly GuardVerdict[] _verdicts;
        private int _index;

        internal Enumerator(GuardVerdict[] verdicts)
        {
            _verdicts = verdicts;
            _index = -1;
        }

        /// <summary>Gets the current verdict.</summary>
        public readonly GuardVerdict Current => _verdicts[_index];

        /// <summary>Advances to the next verdict.</summary>
        /// <returns><see langword="false"/> at the end.</returns>
        public bool MoveNext() => ++_index < _verdicts.Length;
    }
}

using System.ComponentModel.DataAnnotations;

namespace SafeAI.Monitoring;

/// <summary>Settings of input and output drift detection (<c>SafeAI:Monitoring:Drift</c>).</summary>
public sealed class DriftOptions
{
    /// <summary>Gets or sets a value indicating whether the monitoring stage profiles inputs and outputs for drift (default on).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Gets or sets how many calls share one profiled call (default 10: one call in ten; profiling costs a few microseconds per 1,000 characters; 1 profiles every call).</summary>
    [Range(1, 1_000_000)]
    public int SampleEvery { get; set; } = 10;

    /// <summary>Gets or sets how many profiled inputs become the reference when none is set with <see cref="DriftDetector.SetReference"/> (default 2,000).</summary>
    [Range(10, 10_000_000)]
    public int ReferenceSize { get; set; } = 2000;

    /// <summary>Gets or sets the current window compared with the reference (default one hour; the previous full window and the one under way are compared together).</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Gets or sets the fewest inputs the current window needs before scores are recorded (default 200).</summary>
    [Range(1, 10_000_000)]
    public int MinInputs { get; set; } = 200;

    /// <summary>Gets or sets how often the scores are recorded as values (<see cref="DriftReport.MetricNames"/>) for alert rules (default one minute).</summary>
    public TimeSpan PublishInterval { get; set; } = TimeSpan.FromMinutes(1);

    internal void Validate()
    {
        if (SampleEvery < 1 || ReferenceSize < 10 || MinInputs < 1 || Window < TimeSpan.FromMinutes(1) || PublishInterval < TimeSpan.FromSeconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(DriftOptions), "DriftOptions: SampleEvery and MinInputs must be at least 1, ReferenceSize at least 10, Window at least one minute, PublishInterval at least one second.");
        }
    }
}

/// <summary>
/// Watches inputs and outputs for drift against a reference: profiles them (<see cref="DriftProfile"/>; no text is
/// kept), compares the current window with the reference, and records the scores into a <see cref="MetricsRecorder"/>
/// as values named in <see cref="DriftReport.MetricNames"/>, so that ordinary alert rules fire on drift
/// (<c>{"name": "topic-drift", "metric": "drift.input.topic.js", "above": 0.15, "window": "10m", "min_samples": 1}</c>).
/// </summary>
/// <remarks>Thread-safe.</remarks>
public sealed class DriftDetector
{
    private readonly MetricsRecorder _recorder;
    private readonly DriftOptions _options;
    private readonly Lock _gate = new();
    private DriftProfile? _reference;
    private readonly DriftProfile _learning = new();
    private DriftProfile _current = new();
    private DriftProfile _previous = new();
    private DateTimeOffset _windowStart;
    private DateTimeOffset _nextPublish;
    private long _sampled;

    /// <summary>Initializes a new instance of the <see cref="DriftDetector"/> class.</summary>
    /// <param name="recorder">Where scores are recorded; its clock is the detector's clock.</param>
    /// <param name="options">The settings; defaults when <see langword="null"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public DriftDetector(MetricsRecorder recorder, DriftOptions? options = null)
    {
        _recorder = recorder ?? throw new ArgumentNullException(nameof(recorder));
        _options = options ?? new DriftOptions();
        _options.Validate();
        _windowStart = recorder.TimeProvider.GetUtcNow();
        _nextPublish = _windowStart;
    }

    /// <summary>Gets the reference, or <see langword="null"/> while it is still being learned from the first inputs.</summary>
    public DriftProfile? Reference => Volatile.Read(ref _reference);

    /// <summary>Gets the settings.</summary>
    public DriftOptions Options => _options;

    /// <summary>Sets the reference (for example <see cref="DriftProfile.FromInputs"/> over last month's requests).</summary>
    /// <param name="reference">The reference.</param>
    public void SetReference(DriftProfile reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        Volatile.Write(ref _reference, reference);
    }

    /// <summary>Decides whether this call is profiled (one in <see cref="DriftOptions.SampleEvery"/>).</summary>
    /// <returns><see langword="true"/> to profile it.</returns>
    public bool ShouldSample() => _options.SampleEvery == 1 || Interlocked.Increment(ref _sampled) % _options.SampleEvery == 0;

    /// <summary>Profiles one input; while no reference is set, the first inputs become it.</summary>
    /// <param name="text">The input text (not kept).</param>
    public void ObserveInput(ReadOnlySpan<char> text)
    {
        var reference = Volatile.Read(ref _reference);
        if (reference is null)
        {
            var learning = _learning;
            learning.AddInput(text);
            if (learning.Inputs >= _options.ReferenceSize)
            {
                _ = Interlocked.CompareExchange(ref _reference, learning, null);
            }

            return;
        }

        Rotate().AddInput(text);
        PublishIfDue();
    }

    /// <summary>Profiles one output.</summary>
    /// <param name="length">Its length in characters.</param>
    /// <param name="confidence">Its confidence estimate, if any.</param>
    public void ObserveOutput(int length, double? confidence)
    {
        var reference = Volatile.Read(ref _reference);
        if (reference is null)
        {
            _learning.AddOutput(length, confidence);
            return;
        }

        Rotate().AddOutput(length, confidence);
    }

    /// <summary>Compares the current window (the previous full window and the one under way) with the reference.</summary>
    /// <returns>The report, or <see langword="null"/> while there is no reference.</returns>
    public DriftReport? Report()
    {
        var reference = Volatile.Read(ref _reference);
        if (reference is null)
        {
            return null;
        }

        DriftProfile current;
        lock (_gate)
        {
            current = new DriftProfile();
            current.Add(_previous);
            current.Add(_current);
        }

        return DriftReport.Compare(reference, current);
    }

    /// <summary>Records the scores now if the current window has enough inputs.</summary>
    /// <returns>The report recorded, or <see langword="null"/> when nothing was recorded.</returns>
    public DriftReport? Publish()
    {
        var report = Report();
        if (report is null || report.CurrentInputs < _options.MinInputs)
        {
            return null;
        }

        var now = _recorder.TimeProvider.GetUtcNow();
        for (var i = 0; i < DriftReport.MetricNames.Count; i++)
        {
            var value = report[i];
            if (double.IsFinite(value))
            {
                _recorder.RecordValue(DriftReport.MetricNames[i], value, now);
            }
        }

        return report;
    }

    private DriftProfile Rotate()
    {
        var now = _recorder.TimeProvider.GetUtcNow();
        if (now - _windowStart < _options.Window)
        {
            return Volatile.Read(ref _current);
        }

        lock (_gate)
        {
            if (now - _windowStart >= _options.Window)
            {
                // A gap longer than two windows leaves nothing recent to compare.
                _previous = now - _windowStart >= _options.Window * 2 ? new DriftProfile() : _current;
                _current = new DriftProfile();
                _windowStart = now;
            }

            return _current;
        }
    }

    private void PublishIfDue()
    {
        var now = _recorder.TimeProvider.GetUtcNow();
        if (now < _nextPublish)
        {
            return;
        }

        lock (_gate)
        {
            if (now < _nextPublish)
            {
                return;
            }

            _nextPublish = now + _options.PublishInterval;
        }

        _ = Publish();
    }
}

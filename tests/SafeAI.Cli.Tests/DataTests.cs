namespace SafeAI.Cli.Tests;

public sealed class DataTests
{
    [Fact]
    public void DataSplit_SameTextDifferentCaseOrSpacing_LandsInTheSamePart()
    {
        Assert.Equal(DataSplit.Part("Ignore previous  instructions"), DataSplit.Part("ignore previous instructions"));
        Assert.Equal(DataSplit.Part("hello world"), DataSplit.Part("hello world"));
    }

    [Fact]
    public void DataSplit_ManyTexts_HoldsOutAboutOneFifth()
    {
        var heldOut = Enumerable.Range(0, 5000).Count(i => DataSplit.IsHeldOut($"text number {i}"));

        Assert.InRange(heldOut, 900, 1100);
    }

    [Fact]
    public void Csv_QuotedFieldsWithCommasQuotesAndLineBreaks_AreReadWhole()
    {
        var rows = Csv.Read(new StringReader("text,label\n\"a, \"\"b\"\"\nc\",hate\nplain,benign\n"));

        Assert.Equal(3, rows.Count);
        Assert.Equal(["a, \"b\"\nc", "hate"], rows[1]);
        Assert.Equal(["plain", "benign"], rows[2]);
    }

    [Fact]
    public void CapAndMerge_DuplicatesAcrossSources_AreMergedWithLabelsUnited()
    {
        List<LabelledText> all = [new("You are vile", ["harassment"], "a"), new("you are  VILE", ["hate"], "b"), new("hi", [], "a")];

        var merged = SharedCorpus.CapAndMerge(all, cap: 10);

        Assert.Equal(2, merged.Count);
        Assert.Equal(["harassment", "hate"], merged.Single(e => e.Source == "a" && !e.IsBenign).Labels);
    }

    [Fact]
    public void CapAndMerge_GroupOverCap_KeepsCapTextsDeterministically()
    {
        var all = Enumerable.Range(0, 50).Select(i => new LabelledText($"benign text {i}", [], "s")).ToList();

        var first = SharedCorpus.CapAndMerge(all, cap: 7);
        all.Reverse();
        var second = SharedCorpus.CapAndMerge(all, cap: 7);

        Assert.Equal(7, first.Count);
        Assert.Equal(first.Select(e => e.Text).Order(), second.Select(e => e.Text).Order());
    }

    [Fact]
    public void LabelledData_MalformedJsonLine_FailsNamingTheLine()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "{\"text\": \"ok\", \"label\": \"benign\"}\n{not json\n");

            var ex = Assert.Throws<FormatException>(() => LabelledData.Read(path));

            Assert.Contains(":2: not valid JSON", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void SharedCorpus_WhenPresent_MapsEveryCategoryAndKeepsHeldOutApart()
    {
        var folder = SharedData.Folder;
        if (folder is null)
        {
            Assert.Skip("The shared corpora (../shared/data) are not present.");
        }

        var data = SharedCorpus.Load(folder);

        foreach (var category in SafeAI.Onnx.ContentCategories.All)
        {
            Assert.True(data.Count(e => e.Has(category)) >= 50, category);
        }

        Assert.InRange(data.Count(e => DataSplit.IsHeldOut(e.Text)) / (double)data.Count, 0.18, 0.22);
        Assert.Equal(data.Count, data.Select(e => DataSplit.Key(e.Text)).Distinct().Count());

        // The statement sets stay out of Load, so the evaluation by source is the same with or without them.
        var keys = data.Select(e => DataSplit.Key(e.Text)).ToHashSet(StringComparer.Ordinal);
        Assert.DoesNotContain(SharedCorpus.LoadStatements(), e => keys.Contains(DataSplit.Key(e.Text)));
    }

    [Theory]
    [InlineData(SharedCorpus.SelfHarmUrgingSource, "harassment", "self-harm-urging", 200, 250, 400, 500)]
    [InlineData(SharedCorpus.IllicitRequestsSource, "illicit", "illicit-requests", 220, 260, 330, 370)]
    public void HandWrittenSet_Embedded_LabelledApartFromEveryOtherSetAndItsProbe(string source, string label, string experiment, int minHarmful, int maxHarmful, int minBenign, int maxBenign)
    {
        var rows = SharedCorpus.LoadStatements().Where(e => e.Source == source).ToList();

        Assert.All(rows, static e => Assert.Equal(SharedCorpus.SeedWeight, e.Weight));
        Assert.All(rows.Where(static e => !e.IsBenign), e => Assert.Equal([label], e.Labels));
        Assert.InRange(rows.Count(static e => !e.IsBenign), minHarmful, maxHarmful);
        Assert.InRange(rows.Count(static e => e.IsBenign), minBenign, maxBenign);
        Assert.Equal(rows.Count, rows.Select(static e => DataSplit.Key(e.Text)).Distinct().Count());

        // No text of one set is in another; LoadStatements keeps the order of the columns (threats, urging, requests).
        var others = SharedCorpus.LoadStatements().Where(e => e.Source != source).Select(static e => DataSplit.Key(e.Text)).ToHashSet(StringComparer.Ordinal);
        Assert.DoesNotContain(rows, e => others.Contains(DataSplit.Key(e.Text)));
        Assert.Equal(
            [SharedCorpus.ThreatStatementsSource, SharedCorpus.SelfHarmUrgingSource, SharedCorpus.IllicitRequestsSource],
            SharedCorpus.LoadStatements().Select(static e => e.Source).Distinct());

        // The probe (training/experiments/<experiment>/probe.jsonl) was written apart from the set, by someone who did
        // not see it, and must stay unseen: the texts both happened to contain were taken out of the set.
        var probeKeys = SharedData.ProbeKeys(experiment);
        Assert.Equal(80, probeKeys.Count);
        Assert.DoesNotContain(rows, e => probeKeys.Contains(DataSplit.Key(e.Text)));
        SharedData.AssertEveryPartHasBothKinds(rows);
    }

    [Fact]
    public void LoadThreatStatements_EmbeddedSet_ThreatsAreViolenceAndTheRestBenign_NoneFromTheProbe()
    {
        var rows = SharedCorpus.LoadThreatStatements();

        Assert.All(rows, static e => Assert.Equal(SharedCorpus.ThreatStatementsSource, e.Source));
        Assert.All(rows, static e => Assert.Equal(SharedCorpus.SeedWeight, e.Weight));
        Assert.All(rows.Where(static e => !e.IsBenign), static e => Assert.Contains("violence", e.Labels));
        Assert.InRange(rows.Count(static e => !e.IsBenign), 200, 400);
        Assert.InRange(rows.Count(static e => e.IsBenign), 500, 900);
        Assert.Equal(rows.Count, rows.Select(static e => DataSplit.Key(e.Text)).Distinct().Count());

        // The probe (training/experiments/threat-statements/probe.jsonl) was written before any training and must stay unseen.
        var probeKeys = SharedData.ProbeKeys("threat-statements");
        Assert.Equal(40, probeKeys.Count);
        Assert.DoesNotContain(rows, e => probeKeys.Contains(DataSplit.Key(e.Text)));

        // Split like every other source: each part gets some of both kinds.
        SharedData.AssertEveryPartHasBothKinds(rows);
    }

    [Fact]
    public void LoadSafeButAlarming_EmbeddedSet_MostlyHarmlessTextsWithAlarmingWords_ApartFromTheOtherSetsAndTheProbe()
    {
        var rows = SharedCorpus.LoadSafeButAlarming();

        Assert.All(rows, static e => Assert.Equal(SharedCorpus.SafeButAlarmingSource, e.Source));
        Assert.All(rows, static e => Assert.Equal(SharedCorpus.SeedWeight, e.Weight));
        Assert.All(rows, static e => Assert.All(e.Labels, static l => Assert.Contains(l, SafeAI.Onnx.ContentCategories.All)));
        Assert.InRange(rows.Count(static e => e.IsBenign), 400, 460);
        Assert.InRange(rows.Count(static e => !e.IsBenign), 190, 230);
        Assert.Equal(rows.Count, rows.Select(static e => DataSplit.Key(e.Text)).Distinct().Count());

        // Not one of the statement sets, and none of its texts is in them or in the shared corpora it is added to.
        Assert.DoesNotContain(SharedCorpus.LoadStatements(), static e => e.Source == SharedCorpus.SafeButAlarmingSource);
        var statements = SharedCorpus.LoadStatements().Select(static e => DataSplit.Key(e.Text)).ToHashSet(StringComparer.Ordinal);
        Assert.DoesNotContain(rows, e => statements.Contains(DataSplit.Key(e.Text)));
        if (SharedData.Folder is { } folder)
        {
            var shared = SharedCorpus.Load(folder).Select(static e => DataSplit.Key(e.Text)).ToHashSet(StringComparer.Ordinal);
            Assert.DoesNotContain(rows, e => shared.Contains(DataSplit.Key(e.Text)));
        }

        // The probe (training/experiments/safe-but-alarming/probe.jsonl: 60 harmless, 40 harmful) was written apart
        // from the set, by someone who did not see it; the one text both held was taken out of the set.
        var probeKeys = SharedData.AssertProbe("safe-but-alarming", "probe.jsonl", harmless: 60, harmful: 40);
        Assert.DoesNotContain(rows, e => probeKeys.Contains(DataSplit.Key(e.Text)));

        // The second probe (probe2.jsonl: 60 harmless, 39 harmful) was written later by another helper who saw neither;
        // the one text the first probe also held was taken out of it.
        var probe2Keys = SharedData.AssertProbe("safe-but-alarming", "probe2.jsonl", harmless: 60, harmful: 39);
        Assert.DoesNotContain(rows, e => probe2Keys.Contains(DataSplit.Key(e.Text)));
        Assert.DoesNotContain(probe2Keys, probeKeys.Contains);
        SharedData.AssertEveryPartHasBothKinds(rows);
    }

    [Fact]
    public void LoadChatRequests_EmbeddedSet_HarmfulRequestsAndHarmlessOnesWithTheSameWords_ApartFromTheOtherSetsAndEveryProbe()
    {
        var rows = SharedCorpus.LoadChatRequests();

        Assert.All(rows, static e => Assert.Equal(SharedCorpus.ChatRequestsSource, e.Source));
        Assert.All(rows, static e => Assert.Equal(SharedCorpus.SeedWeight, e.Weight));
        Assert.All(rows, static e => Assert.All(e.Labels, static l => Assert.Contains(l, SafeAI.Onnx.ContentCategories.All)));
        // 665 harmless texts with the requests' words, then 311 ordinary requests to write to or about a person.
        Assert.InRange(rows.Count(static e => e.IsBenign), 940, 1010);
        // Each category a column is fitted on has at least a hundred requests (training/statement_columns.py).
        foreach (var category in new[] { "hate", "harassment", "sexual", "self_harm", "violence" })
        {
            Assert.InRange(rows.Count(e => e.Labels.Contains(category)), 100, 200);
        }

        Assert.DoesNotContain(rows, static e => e.Labels.Contains("sexual_minors"));
        Assert.Equal(rows.Count, rows.Select(static e => DataSplit.Key(e.Text)).Distinct().Count());

        // None of its texts is in the other sets or the shared corpora.
        List<LabelledText> sets = [.. SharedCorpus.LoadStatements(), .. SharedCorpus.LoadSafeButAlarming()];
        Assert.DoesNotContain(sets, static e => e.Source == SharedCorpus.ChatRequestsSource);
        var setKeys = sets.Select(static e => DataSplit.Key(e.Text)).ToHashSet(StringComparer.Ordinal);
        Assert.DoesNotContain(rows, e => setKeys.Contains(DataSplit.Key(e.Text)));
        if (SharedData.Folder is { } folder)
        {
            var shared = SharedCorpus.Load(folder).Select(static e => DataSplit.Key(e.Text)).ToHashSet(StringComparer.Ordinal);
            Assert.DoesNotContain(rows, e => shared.Contains(DataSplit.Key(e.Text)));
        }

        // Nor in any probe: the third probe of harmless texts with alarming words (probe3.jsonl: 60 harmless, 40
        // harmful) was written by a helper who saw neither the set nor the other probes.
        var probe3Keys = SharedData.AssertProbe("safe-but-alarming", "probe3.jsonl", harmless: 60, harmful: 40);
        Assert.DoesNotContain(probe3Keys, SharedData.ProbeKeys("safe-but-alarming").Contains);
        Assert.DoesNotContain(probe3Keys, SharedData.ProbeKeys("safe-but-alarming", "probe2.jsonl").Contains);
        foreach (var (experiment, file) in SharedData.CheckFiles)
        {
            var keys = SharedData.ProbeKeys(experiment, file);
            Assert.DoesNotContain(rows, e => keys.Contains(DataSplit.Key(e.Text)));
        }

        SharedData.AssertEveryPartHasBothKinds(rows);
    }

    [Fact]
    public void ExperimentSets_CandidateTrainingTexts_ApartFromEveryCheckFileAndTheEmbeddedSets()
    {
        // The blind check files of training/experiments/violence-veto and illicit-veto, each written by a helper who
        // saw nothing of the repository, and the sets written for the candidates they judged (none adopted, so the
        // sets are not embedded).
        SharedData.AssertProbe("violence-veto", "violence-probe.jsonl", harmless: 100, harmful: 50);
        SharedData.AssertProbe("illicit-veto", "tech.jsonl", harmless: 240, harmful: 80);
        SharedData.AssertProbe("violence-veto", "everyday3.jsonl", harmless: 300, harmful: 0);
        SharedData.AssertProbe("violence-veto", "violence-probe2.jsonl", harmless: 95, harmful: 59);
        SharedData.AssertProbe("violence-veto", "requests-blind.jsonl", harmless: 138, harmful: 145);
        var checks = SharedData.CheckFiles.Select(static f => SharedData.ProbeKeys(f.Experiment, f.File)).ToList();

        var embedded = new List<LabelledText>([.. SharedCorpus.LoadStatements(), .. SharedCorpus.LoadSafeButAlarming(), .. SharedCorpus.LoadChatRequests()])
            .Select(static e => DataSplit.Key(e.Text)).ToHashSet(StringComparer.Ordinal);
        foreach (var (experiment, file, harmless, harmful, label) in new[]
        {
            ("violence-veto", "violent-words.jsonl", 503, 0, "violence"),
            ("violence-veto", "violence-harmful.jsonl", 0, 259, "violence"),
            ("violence-veto", "ordinary.jsonl", 451, 0, "violence"),
            ("illicit-veto", "illicit-chat.jsonl", 353, 313, "illicit"),
        })
        {
            var keys = SharedData.AssertProbe(experiment, file, harmless, harmful);
            Assert.All(SharedData.Probe(experiment, file), r => Assert.True(r.Labels.Length == 0 || r.Labels.SequenceEqual([label]), r.Text));
            Assert.All(checks, check => Assert.DoesNotContain(keys, check.Contains));
            Assert.DoesNotContain(keys, embedded.Contains);
        }

        // The intent pairs (training/experiments/intent-pairs): a harmful text, then a harmless one on the same topic.
        var pairKeys = SharedData.AssertProbe("intent-pairs", "intent-pairs.jsonl", harmless: 307, harmful: 307);
        var pairs = SharedData.Probe("intent-pairs", "intent-pairs.jsonl");
        Assert.All(Enumerable.Range(0, pairs.Count), i => Assert.Equal(i % 2 == 0 ? 1 : 0, pairs[i].Labels.Length));
        Assert.All(pairs, static r => Assert.All(r.Labels, static l => Assert.Contains(l, (string[])["violence", "illicit"])));
        Assert.All(checks, check => Assert.DoesNotContain(pairKeys, check.Contains));
        Assert.DoesNotContain(pairKeys, embedded.Contains);

        // The registers no set covered (training/experiments/blind-registers): format-heavy chatbot tasks and prompt
        // injections, long mixed messages, statements about social groups.
        var registerKeys = SharedData.AssertProbe("blind-registers", "registers.jsonl", harmless: 679, harmful: 238);
        Assert.All(checks, check => Assert.DoesNotContain(registerKeys, check.Contains));
        Assert.DoesNotContain(registerKeys, embedded.Contains);
        Assert.DoesNotContain(registerKeys, pairKeys.Contains);

        // The security register (same experiment): everyday security, privacy and fraud-victim questions and IT work, and
        // requests to commit such crimes against others.
        var securityKeys = SharedData.AssertProbe("blind-registers", "security.jsonl", harmless: 231, harmful: 78);
        Assert.All(SharedData.Probe("blind-registers", "security.jsonl"), static r => Assert.True(r.Labels.Length == 0 || r.Labels.SequenceEqual(["illicit"]), r.Text));
        Assert.All(checks, check => Assert.DoesNotContain(securityKeys, check.Contains));
        Assert.DoesNotContain(securityKeys, embedded.Contains);
        Assert.DoesNotContain(securityKeys, pairKeys.Contains);
        Assert.DoesNotContain(securityKeys, registerKeys.Contains);
    }
}

internal static class SharedData
{
    /// <summary>Every blind probe and check file under training/experiments that no training text may repeat.</summary>
    public static readonly (string Experiment, string File)[] CheckFiles =
    [
        ("safe-but-alarming", "probe.jsonl"), ("safe-but-alarming", "probe2.jsonl"), ("safe-but-alarming", "probe3.jsonl"),
        ("threat-statements", "probe.jsonl"), ("self-harm-urging", "probe.jsonl"), ("illicit-requests", "probe.jsonl"),
        ("chat-requests", "everyday.jsonl"), ("chat-requests", "everyday2.jsonl"),
        ("illicit-veto", "tech.jsonl"), ("violence-veto", "violence-probe.jsonl"), ("violence-veto", "everyday3.jsonl"),
        ("violence-veto", "violence-probe2.jsonl"), ("violence-veto", "requests-blind.jsonl"),
    ];

    /// <summary>The shared corpora folder (../shared/data above the repository root), or null.</summary>
    public static string? Folder
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "data");
                if (File.Exists(Path.Combine(candidate, "README.md")) && Directory.Exists(Path.Combine(candidate, "toxicity")))
                {
                    return candidate;
                }
            }

            return null;
        }
    }

    /// <summary>The repository root (the folder holding SafeAI.sln above the test's output folder).</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "SafeAI.sln")))
                {
                    return dir.FullName;
                }
            }

            throw new InvalidOperationException("SafeAI.sln was not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>The texts and labels of training/experiments/<paramref name="experiment"/>/<paramref name="file"/>.</summary>
    public static List<(string Text, string[] Labels)> Probe(string experiment, string file = "probe.jsonl") =>
        [.. File.ReadLines(Path.Combine(RepositoryRoot, "training", "experiments", experiment, file))
            .Select(static l => System.Text.Json.JsonDocument.Parse(l).RootElement)
            .Select(static r => (r.GetProperty("text").GetString()!, r.TryGetProperty("labels", out var labels) ? labels.EnumerateArray().Select(static l => l.GetString()!).ToArray() : []))];

    /// <summary>The <see cref="DataSplit.Key"/> of every text of <see cref="Probe"/>.</summary>
    public static HashSet<string> ProbeKeys(string experiment, string file = "probe.jsonl") =>
        Probe(experiment, file).Select(static r => DataSplit.Key(r.Text)).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// Asserts that a probe holds <paramref name="harmless"/> texts without labels and <paramref name="harmful"/> with
    /// labels the filter knows, every text once, and returns its <see cref="ProbeKeys"/>.
    /// </summary>
    public static HashSet<string> AssertProbe(string experiment, string file, int harmless, int harmful)
    {
        var probe = Probe(experiment, file);
        Assert.Equal(harmless, probe.Count(static r => r.Labels.Length == 0));
        Assert.Equal(harmful, probe.Count(static r => r.Labels.Length > 0));
        Assert.All(probe, static r => Assert.All(r.Labels, static l => Assert.Contains(l, SafeAI.Onnx.ContentCategories.All)));
        var keys = ProbeKeys(experiment, file);
        Assert.Equal(harmless + harmful, keys.Count);
        return keys;
    }

    /// <summary>Asserts that each part (train, calib, test) of a hand-written set holds benign and harmful texts.</summary>
    public static void AssertEveryPartHasBothKinds(IReadOnlyList<LabelledText> rows)
    {
        foreach (var part in (string[])["train", "calib", "test"])
        {
            var inPart = rows.Where(e => DataSplit.PartName(e.Source, e.Text) == part).ToList();
            Assert.Contains(inPart, static e => e.IsBenign);
            Assert.Contains(inPart, static e => !e.IsBenign);
        }
    }
}

// The harness as run on 2026-12-04 (paths of the VM: the repository at /work/main, the corpora at /work/shared/data).
// Program.cs of a console project whose assembly is named SafeAI.Benchmarks (so that it sees the internals of
// SafeAI.Cli), referencing src/SafeAI.Onnx and src/SafeAI.Cli. Argument: the part to dump, calib or heldout-source.
using System.Globalization;
using System.Text.Json.Nodes;
using SafeAI.Cli;
using SafeAI.Onnx;

// Per-category logits of long benign texts and hidden harmful texts (calibration part), scored three ways.
var data = "/work/shared/data";
var part = args.Length > 0 ? args[0] : "calib";
var corpus = SharedCorpus.Load(data).Where(e => DataSplit.PartName(e.Source, e.Text) == part).ToList();
var sample = corpus.Where(e => e.IsBenign && DataSplit.BenignRequestSources.Contains(e.Source)).Select(e => e.Text).ToList();
var all = SourcesEvaluation.HideInOrdinaryText([.. corpus.Select(e => (e.Source, e.Text, e.IsBenign))]);
var hidden = all.Where(r => r.Harmful).ToList();
// Calibration: the long benign texts calibrate uses; held out: the evaluation's controls.
var longBenign = part == "calib" ? SourcesEvaluation.LongBenignTexts(sample) : [.. all.Where(r => !r.Harmful).Select(r => r.Text)];
Console.Error.WriteLine($"{longBenign.Count} long benign, {hidden.Count} hidden harmful");
var dir = "/work/main/src/SafeAI.Onnx/DefaultModel/";
ContentModel WithShift(double? shift)
{
    var json = JsonNode.Parse(File.ReadAllText(dir + "safeai-model.json"))!.AsObject();
    if (shift is { } s) json["sentences"]!["shift"] = s; else json.Remove("sentences");
    File.WriteAllText(dir + ".pcs.json", json.ToJsonString());
    var m = ContentModel.Load(dir + ".pcs.json");
    File.Delete(dir + ".pcs.json");
    return m;
}
var models = new (string Name, ContentModel Model)[] { ("s0", WithShift(0)), ("packed", WithShift(null)), ("cur", ContentModel.LoadDefault()) };
if (part != "calib") models = models[..2];
var names = models[0].Model.Categories.ToArray();
using var w = new StreamWriter($"/work/tmp/pcs/logits-{part}.tsv");
w.WriteLine("kind\tsource\tmodel\t" + string.Join("\t", names));
async Task Dump(string kind, string source, string text)
{
    foreach (var (name, model) in models)
    {
        var sc = await model.ScoreAsync(text);
        w.WriteLine($"{kind}\t{source}\t{name}\t" + string.Join("\t", names.Select(c => ContentModel.Logit((float)sc[c]).ToString("F4", CultureInfo.InvariantCulture))));
    }
}
foreach (var t in longBenign) await Dump("benign", "-", t);
foreach (var h in hidden) await Dump("hidden", h.Source, h.Text);
if (part == "calib") foreach (var h in hidden) await Dump("alone", h.Source, h.Last);
Console.Error.WriteLine("done");

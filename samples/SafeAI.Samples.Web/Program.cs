// SafeAI web sample: a chat page on the offline FAQ client with AI disclosure, human review of high-stakes answers,
// thumbs up/down feedback, a reviewers' page, an audit trail, and a page where a visitor changes their consent choices.
// Run: dotnet run --project samples/SafeAI.Samples.Web
using SafeAI.Samples.Web;

var app = SampleApp.Build(args);
app.Logger.LogWarning("Demo only: sign in as reviewer '{User}' with password '{Password}' at /login. Never use a fixed account in production.", SampleApp.DemoReviewerUser, SampleApp.DemoReviewerPassword);
await app.RunAsync();

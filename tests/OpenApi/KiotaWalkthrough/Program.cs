// The README's walk-through, through the client that Kiota generates from the served OpenAPI document.
// KiotaClientTests builds this beside the generated code (namespace ShopAstro.Generated) and runs it:
//   dotnet Walkthrough.dll <edge URL> <admin token> <store id>
// Not part of the test project's compilation: the generated client exists only in the test's temporary folder.
using System.Reflection;
using System.Runtime.Serialization;
using Microsoft.Kiota.Abstractions.Authentication;
using Microsoft.Kiota.Http.HttpClientLibrary;
using ShopAstro.Generated;
using ShopAstro.Generated.Models;
using ShopAstro.Generated.V1.Stores.Item.Requests;
using ShopAstro.Generated.V1.Stores.Item.Subjects.Item.Decisions;

var (url, token, storeId) = (args[0], args[1], args[2]);
var adapter = new HttpClientRequestAdapter(new BaseBearerTokenAuthenticationProvider(new StaticToken(token))) { BaseUrl = url };
var store = new EdgeClient(adapter).V1.Stores[storeId];

// The seller publishes policy version 1: analytics and recommendations in use.
var policy = await store.Policy.PutAsync(new PolicyRequest
{
    Version = 1,
    Status = PolicyRequest_status.Active,
    SellerAttestation = true,
    Purposes = new PolicyRequest_purposes
    {
        Analytics = new PurposeSettingRequest { Enabled = true, MaterialChange = false },
        Recommendation = new PurposeSettingRequest { Enabled = true, MaterialChange = false },
    },
});
Console.WriteLine($"policy: version {policy!.Version} {Wire(policy.Status)}, analytics enabled={policy.Purposes!.Analytics!.Enabled}");

// The shopper u1 grants analytics on the banner.
var record = await store.Subjects["u1"].Consents.PutAsync(new ConsentRequest
{
    Purposes = new ConsentRequest_purposes { Analytics = true },
    PolicyVersion = 1,
    Source = ConsentRequest_source.Banner,
});
Console.WriteLine($"consent: analytics granted={record!.Consents!.Analytics!.Granted} source={Wire(record.Consents.Analytics.Source)}");

// The storefront checks: analytics granted, cart allowed by contract.
var check = await store.Subjects["u1"].Decisions.GetAsync(request =>
    request.QueryParameters.Purpose = [GetPurposeQueryParameterType.Analytics, GetPurposeQueryParameterType.Cart]);
Console.WriteLine($"check: policy {check!.PolicyVersion}, " + string.Join("; ", check.Decisions!.Select(d => $"{Wire(d.Purpose)} allowed={d.Allowed} reason={Wire(d.Reason)}")));

// The same check from a browser sending Global Privacy Control: the signal overrides the grant.
var gpc = await store.Subjects["u1"].Decisions.GetAsync(request =>
{
    request.QueryParameters.Purpose = [GetPurposeQueryParameterType.Analytics];
    request.Headers.Add("Sec-GPC", "1");
});
Console.WriteLine($"gpc: analytics allowed={gpc!.Decisions![0].Allowed} reason={Wire(gpc.Decisions[0].Reason)}");

// The shopper withdraws; every check that starts after this answer is denied.
await store.Subjects["u1"].Consents.PutAsync(new ConsentRequest
{
    Purposes = new ConsentRequest_purposes { Analytics = false },
    PolicyVersion = 1,
    Source = ConsentRequest_source.Account_settings,
});
var withdrawn = await store.Subjects["u1"].Decisions.GetAsync(request => request.QueryParameters.Purpose = [GetPurposeQueryParameterType.Analytics]);
Console.WriteLine($"withdrawn: analytics allowed={withdrawn!.Decisions![0].Allowed} reason={Wire(withdrawn.Decisions[0].Reason)}");

// The record with every consent receipt (access request).
var access = await store.Subjects["u1"].GetAsync();
Console.WriteLine($"record: {Wire(access!.Status)}, {access.Receipts!.Count} receipts, chain valid={access.ReceiptChain!.Valid}");

// The recommendation pipeline, in bulk.
var batch = await store.Decisions.Batch.PostAsync(new BatchRequest
{
    Items =
    [
        new BatchItem { SubjectId = "u1", Purpose = BatchItem_purpose.Recommendation },
        new BatchItem { SubjectId = "u2", Purpose = BatchItem_purpose.Recommendation },
    ],
    Signals = new BatchSignals { Dnt = false, Gpc = false },
});
Console.WriteLine("batch: " + string.Join("; ", batch!.Results!.Select(r => $"{r.SubjectId} {Wire(r.Purpose)} allowed={r.Allowed} reason={Wire(r.Reason)}")));

// A deletion request, registered with the requester's verified identity, then completed: the subject is erased.
var registered = await store.Requests.PostAsync(new DataSubjectRequestBody
{
    SubjectId = "u1",
    Type = DataSubjectRequestBody_type.Deletion,
    ReceivedAt = DateTimeOffset.Parse("2026-11-27T09:00:00Z"),
    IdentityVerification = new IdentityVerificationBody { Method = IdentityVerificationBody_method.Sms_code, VerifiedAt = DateTimeOffset.Parse("2026-11-27T09:05:00Z") },
});
Console.WriteLine($"request: {Wire(registered!.Type)} {Wire(registered.Status)} due {registered.DueAt:yyyy-MM-ddTHH:mm:ssZ}");
var completed = await store.Requests[registered.Id].Complete.PostAsync();
var erased = await store.Subjects["u1"].GetAsync();
Console.WriteLine($"completed: {Wire(completed!.Status)}, subject {Wire(erased!.Status)}");

// Problems arrive as typed exceptions with their stable code.
try
{
    await store.Requests[registered.Id].Reject.PostAsync(new RejectRequestBody { Ground = RejectRequestBody_ground.Abuse_of_rights });
    Console.WriteLine("reject: accepted");
}
catch (ProblemDetails problem)
{
    Console.WriteLine($"reject: {problem.ResponseStatusCode} {problem.Code}");
}

var closed = await store.Requests.GetAsync(request => request.QueryParameters.Status = GetStatusQueryParameterType.Completed);
Console.WriteLine($"completed requests: {closed!.Requests!.Count}");

// The value the contract names (Kiota's enums carry it as EnumMember).
static string Wire<T>(T? value) where T : struct, Enum =>
    value is { } known
        ? typeof(T).GetField(known.ToString())?.GetCustomAttribute<EnumMemberAttribute>()?.Value ?? known.ToString()
        : "null";

internal sealed class StaticToken(string token) : IAccessTokenProvider
{
    // The edge under test listens on plain HTTP on loopback.
    public AllowedHostsValidator AllowedHostsValidator { get; } = new();

    public Task<string> GetAuthorizationTokenAsync(Uri uri, Dictionary<string, object>? additionalAuthenticationContext = null, CancellationToken cancellationToken = default) =>
        Task.FromResult(token);
}

using System.Collections.Immutable;
using ShopAstro.EdgeApi.Auth;
using ShopAstro.EdgeApi.Http;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Endpoints;

/// <summary>Consent writes and the subject record (access requests).</summary>
public static class ConsentEndpoints
{
    public static RouteGroupBuilder MapConsentEndpoints(this RouteGroupBuilder store)
    {
        store.MapPut("/subjects/{subjectId}/consents", SetConsents)
            .RequireAuthorization(EdgePolicies.Storefront)
            .WithName("SetConsents")
            .WithSummary("Records choices; answers with the subject record once the change is durable.");
        store.MapGet("/subjects/{subjectId}", GetSubject)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("GetSubject")
            .WithSummary("The subject record with every consent receipt.");
        return store;
    }

    private static async Task<IResult> SetConsents(string storeId, string subjectId, HttpRequest request, IGrainFactory grains)
    {
        if (!Ids.IsValid(storeId))
        {
            return EdgeProblems.InvalidId("storeId");
        }

        if (!Ids.IsValid(subjectId))
        {
            return EdgeProblems.InvalidId("subjectId");
        }

        var body = await JsonBody.ReadAsync(request, EdgeJsonContext.Default.ConsentRequest);
        if (body.Problem is not null)
        {
            return body.Problem;
        }

        var consent = body.Value!;
        if (consent.Purposes is not { Count: > 0 })
        {
            return EdgeProblems.BadRequest("purposes_required", "'purposes' must name at least one purpose.");
        }

        var choices = ImmutableDictionary.CreateBuilder<Purpose, bool>();
        foreach (var (id, granted) in consent.Purposes)
        {
            if (!Purposes.TryParse(id, out var purpose))
            {
                return EdgeProblems.UnknownPurpose(id);
            }

            if (!purpose.IsConsentBased())
            {
                return EdgeProblems.BadRequest("purpose_not_consent_based",
                    $"'{id}' does not rest on consent and cannot be granted or withdrawn.");
            }

            choices[purpose] = granted;
        }

        if (consent.PolicyVersion is not >= 1)
        {
            return EdgeProblems.BadRequest("policy_version_required", "'policyVersion' must be the policy version shown to the shopper (1 or more).");
        }

        if (!ConsentSources.TryParse(consent.Source, out var source))
        {
            return EdgeProblems.BadRequest("invalid_source", "'source' must be banner, account_settings, api or import.");
        }

        var update = new ConsentUpdate(choices.ToImmutable(), consent.PolicyVersion.Value, source, PrivacySignals.From(request));
        var result = await grains.GetGrain<ISubjectGrain>(SubjectKey.Of(storeId, subjectId)).SetConsents(update);
        return result.Status switch
        {
            ConsentWriteStatus.Recorded => TypedResults.Ok(result.Record!.ToResponse(storeId, subjectId)),
            ConsentWriteStatus.StoreUnknown => EdgeProblems.Result(StatusCodes.Status422UnprocessableEntity, "policy_not_published",
                "The store has not published a policy.", "Consent refers to a policy version; publish one first."),
            ConsentWriteStatus.PolicyVersionAhead => EdgeProblems.Result(StatusCodes.Status422UnprocessableEntity, "policy_version_ahead",
                "The policy version is above the store's current version.", $"policyVersion {update.PolicyVersion} has not been published."),
            ConsentWriteStatus.SubjectCancelled => EdgeProblems.Result(StatusCodes.Status409Conflict, "subject_cancelled",
                "The account was cancelled.", "Cancellation is irreversible; nothing was recorded."),
            ConsentWriteStatus.SubjectMinor => EdgeProblems.Result(StatusCodes.Status409Conflict, "subject_minor",
                "The subject is a minor.", "Minors' consent is not recorded; nothing was recorded."),
            _ => throw new InvalidOperationException($"Unexpected consent write status {result.Status}."),
        };
    }

    private static async Task<IResult> GetSubject(string storeId, string subjectId, IGrainFactory grains)
    {
        if (!Ids.IsValid(storeId))
        {
            return EdgeProblems.InvalidId("storeId");
        }

        if (!Ids.IsValid(subjectId))
        {
            return EdgeProblems.InvalidId("subjectId");
        }

        var record = await grains.GetGrain<ISubjectGrain>(SubjectKey.Of(storeId, subjectId)).GetRecord();
        return record is null
            ? EdgeProblems.NotFound("subject_not_found", "Nothing was ever recorded for this subject at this store.")
            : TypedResults.Ok(record.ToResponse(storeId, subjectId));
    }
}

namespace ShopAstro.EdgeApi.OpenApi;

/// <summary>The examples of the main calls in the OpenAPI document: the README's walk-through.</summary>
public static class ApiExamples
{
    public const string Decisions =
        """{"storeId":"s1","subjectId":"u1","policyVersion":1,"decisions":[{"purpose":"analytics","allowed":true,"reason":"granted"},{"purpose":"cart","allowed":true,"reason":"contract"}]}""";

    public const string BatchRequest =
        """{"items":[{"subjectId":"u1","purpose":"recommendation"},{"subjectId":"u2","purpose":"recommendation"}],"signals":{"dnt":false,"gpc":false}}""";

    public const string BatchResponse =
        """{"results":[{"subjectId":"u1","purpose":"recommendation","allowed":true,"reason":"granted"},{"subjectId":"u2","purpose":"recommendation","allowed":false,"reason":"no_consent"}]}""";

    public const string ConsentRequest = """{"purposes":{"analytics":true},"policyVersion":1,"source":"banner"}""";

    public const string SubjectRecord =
        """
        {"storeId":"s1","subjectId":"u1","status":"active",
         "consents":{"analytics":{"granted":true,"policyVersion":1,"at":"2026-11-27T09:00:00.123Z","source":"banner","dnt":false,"gpc":false}},
         "receipts":[{"receiptId":"5f0c1d2e3a4b4c5d8e9f0a1b2c3d4e5f","event":"consent","purpose":"analytics","granted":true,"policyVersion":1,
                      "source":"banner","dnt":false,"gpc":false,"at":"2026-11-27T09:00:00.123Z",
                      "previousHash":"0000000000000000000000000000000000000000000000000000000000000000",
                      "hash":"9b1c3f2a7d8e4b6c5a0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3"}],
         "receiptChain":{"algorithm":"sha256(previousHash|receiptId|purpose|granted(1/0)|policyVersion|source|dnt(1/0)|gpc(1/0)|at(unix ms)|linked) for event consent, ...",
                         "genesis":"0000000000000000000000000000000000000000000000000000000000000000","valid":true,"firstBrokenIndex":null}}
        """;

    public const string PolicyRequest =
        """{"version":1,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true,"materialChange":false},"recommendation":{"enabled":true,"materialChange":false}}}""";

    public const string PolicyResponse =
        """
        {"storeId":"s1","version":1,"status":"active","sellerAttestation":true,
         "purposes":{"analytics":{"enabled":true,"materialChange":false,"reconsentSinceVersion":null},
                     "recommendation":{"enabled":true,"materialChange":false,"reconsentSinceVersion":null}},
         "publishedAt":"2026-11-27T08:00:00.000Z","effectiveAt":"2026-11-27T08:00:00.000Z","upcoming":[]}
        """;

    public const string RegisterRequest =
        """{"subjectId":"u1","type":"deletion","receivedAt":"2026-11-27T09:00:00Z","identityVerification":{"method":"sms_code","verifiedAt":"2026-11-27T09:05:00Z"}}""";

    public const string RequestResponse =
        """
        {"id":"7c9e6679742540de944be07fc1f90ae7","subjectId":"u1","type":"deletion","status":"open","overdue":false,
         "receivedAt":"2026-11-27T09:00:00Z","dueAt":"2026-12-18T15:59:59Z","completedAt":null,"dueAtProvisional":false,
         "repeat":false,"repeatOf":null,"identityVerification":{"method":"sms_code","verifiedAt":"2026-11-27T09:05:00Z"},
         "rejectedAt":null,"rejectionGround":null}
        """;
}

from django.contrib import admin

from .models import BatchItem, BatchJob, KnowledgeBaseItem, Notebook


class KnowledgeBaseItemInline(admin.TabularInline):
    model = KnowledgeBaseItem
    fields = ("title", "content_type", "parsing_status", "captioning_status", "index_status")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Notebook)
class NotebookAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "index_dataset_id", "created_at")
    search_fields = ("name", "user__username")
    inlines = [KnowledgeBaseItemInline]


@admin.register(KnowledgeBaseItem)
class KnowledgeBaseItemAdmin(admin.ModelAdmin):
    list_display = ("title", "notebook", "content_type", "parsing_status", "captioning_status", "index_status", "updated_at")
    list_filter = ("content_type", "parsing_status", "captioning_status", "index_status")
    search_fields = ("title", "source_url", "upload_id", "index_document_id")
    readonly_fields = ("created_at", "updated_at")


class BatchItemInline(admin.TabularInline):
    model = BatchItem
    fields = ("item_data", "kb_item", "status", "error_message")
    readonly_fields = fields
    extra = 0


@admin.register(BatchJob)
class BatchJobAdmin(admin.ModelAdmin):
    list_display = ("pk", "notebook", "user", "status", "total_items", "completed_items", "failed_items", "created_at")
    list_filter = ("status",)
    inlines = [BatchItemInline]
